//! One open file, one tab: where it comes from, whether it is loaded, what the user is
//! looking at ([`Focus`]) and each view's own state ([`Views`]).

use super::data::Loaded;
use super::focus::{Focus, ViewId};
use super::loader::{LoadJob, RanksJob, RanksLoaded, Source};
use super::view::OtherFile;
use super::views::Views;

/// The loaded files other than tab `active`'s, when it shows the Diff view (the only view that
/// reads them; cheap clones of each file's analysis, built per frame only then).
pub fn other_files(tabs: &[Tab], active: usize) -> Vec<OtherFile> {
    if tabs
        .get(active)
        .is_none_or(|t| t.focus.view != ViewId::Diff)
    {
        return Vec::new();
    }
    tabs.iter()
        .enumerate()
        .filter(|&(i, _)| i != active)
        .filter_map(|(_, t)| {
            Some(OtherFile {
                name: t.source.title(),
                analysis: t.loaded()?.analysis.clone(),
            })
        })
        .collect()
}

/// Where a tab is in its life.
pub enum TabState {
    Loading(LoadJob),
    Failed(String),
    Ready(Box<Loaded>),
    /// A job's ranks being summarised, then compared (see `views::ranks`).
    LoadingRanks(RanksJob),
    Ranks(Box<RanksLoaded>),
}

/// One open file.
pub struct Tab {
    pub source: Source,
    pub state: TabState,
    pub focus: Focus,
    pub views: Views,
}

impl Tab {
    /// A tab whose file (or job of ranks) is being loaded by `state`.
    pub fn loading(source: Source, state: TabState) -> Tab {
        Tab {
            source,
            state,
            focus: Focus::default(),
            views: Views::default(),
        }
    }

    pub fn loaded(&self) -> Option<&Loaded> {
        match &self.state {
            TabState::Ready(l) => Some(l),
            _ => None,
        }
    }

    pub fn is_loading(&self) -> bool {
        matches!(self.state, TabState::Loading(_) | TabState::LoadingRanks(_))
    }

    /// Whether the file is open but a device's timeline is still being built.
    pub fn is_indexing(&self) -> bool {
        self.loaded()
            .is_some_and(|l| l.devices.iter().any(|d| d.lod.get().is_none()))
    }

    /// Whether work for this tab runs in the background (the app then keeps repainting).
    pub fn busy(&self) -> bool {
        self.is_loading() || self.is_indexing() || self.focus.filtered.busy() || self.views.busy()
    }

    /// Takes the outcome of the tab's background work when it is ready: the loaded file (the
    /// view then opens on the first device with events, at its allocated peak) and the
    /// filtered timeline.
    pub fn poll(&mut self) {
        if let TabState::Loading(job) = &self.state {
            if let Some(r) = job.poll() {
                self.state = match r {
                    Ok(l) => {
                        let has_events = |i: usize| l.device(i).is_some_and(|(d, _)| d.events > 0);
                        // Stay on the device in view (a new analysis), else the first one
                        // with events.
                        let dev = if has_events(self.focus.device) {
                            self.focus.device
                        } else {
                            (0..l.devices.len()).find(|&i| has_events(i)).unwrap_or(0)
                        };
                        self.focus.set_device(dev);
                        if let Some((d, _)) = l.device(dev) {
                            self.focus.cursor = d.peak.allocated_event;
                        }
                        TabState::Ready(Box::new(l))
                    }
                    Err(e) => TabState::Failed(e),
                };
            }
        }
        if let TabState::LoadingRanks(job) = &self.state {
            if let Some(r) = job.poll() {
                self.state = match r {
                    Ok(l) => TabState::Ranks(Box::new(l)),
                    Err(e) => TabState::Failed(e),
                };
            }
        }
        self.focus.filtered.poll();
    }
}
