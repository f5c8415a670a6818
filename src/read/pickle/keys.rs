//! The keys and action names of trace entries, interned before reading so that matching one
//! is an integer comparison (see [`super::snapshot`], which decodes entries with them).

use crate::model::{Action, StrId};

/// A trace entry's key, as [`Machine::make_event`] dispatches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Action,
    Addr,
    Size,
    Stream,
    TimeUs,
    Frames,
    DeviceFree,
    CompileContext,
    UserMetadata,
    /// A key memsight does not model (kept as an extra field).
    Other,
}

/// String ids of the keys and action names the reader looks for, interned up front so that
/// matching a key is an integer comparison.
///
/// Why the tables: these strings are interned first, so their ids are small; looking a key up
/// is one bounds check and one load instead of a chain of comparisons, which matters at
/// nine keys per trace entry and a million entries.
pub(crate) struct Keys {
    pub action: StrId,
    pub name: StrId,
    pub filename: StrId,
    pub line: StrId,
    /// [`Field`] by string id, for ids below its length.
    fields: Vec<Field>,
    /// Known [`Action`] by string id of its name, for ids below its length.
    actions: Vec<Option<Action>>,
}

impl Keys {
    pub(super) fn new(strings: &mut crate::model::StringTable) -> Keys {
        let fields = [
            ("action", Field::Action),
            ("addr", Field::Addr),
            ("size", Field::Size),
            ("stream", Field::Stream),
            ("time_us", Field::TimeUs),
            ("frames", Field::Frames),
            ("device_free", Field::DeviceFree),
            ("compile_context", Field::CompileContext),
            ("user_metadata", Field::UserMetadata),
        ];
        let names = [
            "alloc",
            "free_requested",
            "free_completed",
            "segment_alloc",
            "segment_free",
            "segment_map",
            "segment_unmap",
            "snapshot",
            "oom",
        ];
        let fields: Vec<(StrId, Field)> = fields
            .iter()
            .map(|&(n, f)| (strings.intern(n), f))
            .collect();
        let actions: Vec<(StrId, Action)> = names
            .iter()
            .filter_map(|n| Action::from_name(n).map(|a| (strings.intern(n), a)))
            .collect();
        let mut field_table = vec![Field::Other; strings.len()];
        for (id, f) in fields {
            field_table[id as usize] = f;
        }
        let mut action_table = vec![None; strings.len()];
        for (id, a) in actions {
            action_table[id as usize] = Some(a);
        }
        Keys {
            action: strings.intern("action"),
            name: strings.intern("name"),
            filename: strings.intern("filename"),
            line: strings.intern("line"),
            fields: field_table,
            actions: action_table,
        }
    }

    #[inline(always)]
    pub(super) fn field(&self, id: StrId) -> Field {
        self.fields
            .get(id as usize)
            .copied()
            .unwrap_or(Field::Other)
    }

    #[inline(always)]
    pub(super) fn action(&self, id: StrId) -> Action {
        match self.actions.get(id as usize) {
            Some(Some(a)) => *a,
            _ => Action::Other(id),
        }
    }
}
