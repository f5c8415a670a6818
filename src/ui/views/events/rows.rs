//! The rows the Events view lists (every event, or the filtered ones) and how the keyboard
//! steps through them.

use std::sync::Arc;

/// The listed events, oldest first.
#[derive(Debug, Clone)]
pub enum Rows {
    /// Every event of a trace of this many (no filter: no list of a million indices).
    All(usize),
    /// The events that passed the filter, ascending.
    Some(Arc<Vec<u32>>),
}

impl Rows {
    pub fn len(&self) -> usize {
        match self {
            Rows::All(n) => *n,
            Rows::Some(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The event shown in `row`.
    pub fn event(&self, row: usize) -> Option<usize> {
        match self {
            Rows::All(n) => (row < *n).then_some(row),
            Rows::Some(v) => v.get(row).map(|&e| e as usize),
        }
    }

    /// `Ok(row)` of event `e`, or `Err(row)` of the first listed event after it (the rows'
    /// length when none is), as `binary_search` answers.
    pub fn position(&self, e: usize) -> Result<usize, usize> {
        match self {
            Rows::All(n) if e < *n => Ok(e),
            Rows::All(n) => Err(*n),
            Rows::Some(v) => v.binary_search(&u32::try_from(e).unwrap_or(u32::MAX)),
        }
    }
}

/// A key that moves through the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
}

impl Step {
    /// The keys of the list, each with its step.
    pub const KEYS: [(egui::Key, Step); 6] = [
        (egui::Key::ArrowUp, Step::Up),
        (egui::Key::ArrowDown, Step::Down),
        (egui::Key::PageUp, Step::PageUp),
        (egui::Key::PageDown, Step::PageDown),
        (egui::Key::Home, Step::Home),
        (egui::Key::End, Step::End),
    ];
}

/// The row `step` goes to from the cursor's event, `page` rows to a page; `None` on an empty
/// list. A cursor on an event that is not listed steps to the listed neighbours it sits
/// between.
pub fn step(rows: &Rows, cursor: usize, step: Step, page: usize) -> Option<usize> {
    let last = rows.len().checked_sub(1)?;
    let page = page.max(1);
    // Rows before the cursor's place and the row at or after it.
    let (before, here) = match rows.position(cursor) {
        Ok(r) => (r, r),
        Err(r) => (r, r.min(last)),
    };
    Some(match step {
        Step::Up => before.saturating_sub(1).min(here),
        Step::Down if rows.position(cursor).is_ok() => (here + 1).min(last),
        Step::Down => here,
        Step::PageUp => before.saturating_sub(page),
        Step::PageDown => (here + page).min(last),
        Step::Home => 0,
        Step::End => last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_move_through_the_listed_rows() {
        let all = Rows::All(10);
        assert_eq!(step(&all, 4, Step::Down, 3), Some(5));
        assert_eq!(step(&all, 4, Step::Up, 3), Some(3));
        assert_eq!(step(&all, 0, Step::Up, 3), Some(0));
        assert_eq!(step(&all, 9, Step::Down, 3), Some(9));
        assert_eq!(step(&all, 8, Step::PageDown, 3), Some(9));
        assert_eq!(step(&all, 4, Step::PageUp, 3), Some(1));
        assert_eq!(step(&all, 4, Step::End, 3), Some(9));
        assert_eq!(step(&all, 4, Step::Home, 3), Some(0));
        assert_eq!(step(&Rows::All(0), 0, Step::Down, 3), None);
    }

    #[test]
    fn a_cursor_off_the_list_steps_to_its_neighbours() {
        let some = Rows::Some(Arc::new(vec![2, 5, 9]));
        // Cursor at event 6, between rows 1 (event 5) and 2 (event 9).
        assert_eq!(
            step(&some, 6, Step::Down, 1).and_then(|r| some.event(r)),
            Some(9)
        );
        assert_eq!(
            step(&some, 6, Step::Up, 1).and_then(|r| some.event(r)),
            Some(5)
        );
        // Before the first and after the last listed event.
        assert_eq!(step(&some, 0, Step::Up, 1), Some(0));
        assert_eq!(step(&some, 0, Step::Down, 1), Some(0));
        assert_eq!(step(&some, 20, Step::Down, 1), Some(2));
        assert_eq!(step(&some, 20, Step::Up, 1), Some(2));
        assert_eq!(step(&some, 5, Step::Down, 1), Some(2));
        assert_eq!(some.position(5), Ok(1));
        assert_eq!(some.position(6), Err(2));
    }
}
