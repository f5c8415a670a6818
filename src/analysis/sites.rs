//! Call sites: the user's own line of code behind an allocation.
//!
//! A stack from PyTorch starts deep inside the allocator (C++ frames, then `torch/`
//! internals). What a user can act on is the first frame that is *their* code: not PyTorch,
//! not the Python standard library, not an installed package, not C++ internals.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::model::{FrameId, Snapshot, StackId};

use super::replay::Allocation;

/// Whether a frame's file belongs to a library rather than the user's code.
pub fn is_library_file(filename: &str, line: i64) -> bool {
    if filename.is_empty() || filename == "??" || line <= 0 {
        return true; // C++ frames (no Python line)
    }
    let f = filename.replace('\\', "/");
    if f.starts_with('<') {
        return true; // <frozen importlib>, <string>
    }
    if !(f.ends_with(".py") || f.ends_with(".pyx")) {
        return true; // .cpp, .h, .cu and other native sources
    }
    const LIBRARY_PARTS: [&str; 8] = [
        "/site-packages/",
        "/dist-packages/",
        "/torch/",
        "/lib/python",
        "/lib64/python",
        "/functorch/",
        "/triton/",
        "/.venv/",
    ];
    LIBRARY_PARTS.iter().any(|p| f.contains(p)) || f.starts_with("torch/")
}

/// Whether a frame is a Python frame (a `.py` file with a line), not a C++ one.
pub fn is_python_frame(filename: &str, line: i64) -> bool {
    line > 0 && filename.ends_with(".py")
}

/// A line of code that allocates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSite {
    pub file: String,
    pub line: i64,
    pub function: String,
    /// Whether this is the user's own code (false: no user frame in the stack, so the site is
    /// the innermost Python frame, or `<unknown>`).
    pub user: bool,
    /// A representative stack (the first one seen) for display.
    pub stack: StackId,
    /// The frame the site was taken from.
    pub frame: Option<FrameId>,
}

impl CallSite {
    /// `workloads.py:158`-style label: the file name without its directories.
    pub fn short_label(&self) -> String {
        short_label(&self.file, self.line)
    }

    /// What identifies the site across files.
    pub fn key(&self) -> SiteKey {
        SiteKey {
            file: self.file.clone(),
            line: self.line,
            function: self.function.clone(),
        }
    }
}

/// The label of allocations whose stack has no Python frame (C++-only or empty stacks).
pub const NO_STACK: &str = "(no Python frame)";

fn short_label(file: &str, line: i64) -> String {
    let name = file.rsplit('/').next().unwrap_or(file);
    if line > 0 {
        format!("{name}:{line}")
    } else {
        name.to_string()
    }
}

/// A call site as files name it: file, line and function. Sites of two snapshots (two runs,
/// two ranks) are matched by this key, since their site and stack indices differ.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SiteKey {
    pub file: String,
    pub line: i64,
    pub function: String,
}

impl SiteKey {
    /// `workloads.py:158`, as [`CallSite::short_label`].
    pub fn short_label(&self) -> String {
        short_label(&self.file, self.line)
    }
}

/// A call site's memory at one point of a trace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SiteAt {
    /// Bytes allocated (not yet freed by the caller) at the point.
    pub live_bytes: u64,
    pub live_blocks: u64,
    /// Allocations the site made from the start of the trace up to the point.
    pub allocs: u64,
}

/// The sites of two tables side by side, matched by key: every key of `a` in order with its
/// value in `b` (or the default), then the keys only `b` has, in order.
pub fn join<V: Default>(
    a: BTreeMap<SiteKey, V>,
    mut b: BTreeMap<SiteKey, V>,
) -> Vec<(SiteKey, V, V)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    for (key, x) in a {
        let y = b.remove(&key).unwrap_or_default();
        out.push((key, x, y));
    }
    out.extend(b.into_iter().map(|(key, y)| (key, V::default(), y)));
    out
}

/// All call sites of a device, with a lookup from stacks.
#[derive(Debug, Clone, Default)]
pub struct SiteTable {
    pub sites: Vec<CallSite>,
    by_stack: HashMap<StackId, u32>,
}

impl SiteTable {
    /// The site of each allocation.
    pub fn build(snap: &Snapshot, allocations: &[Allocation]) -> (SiteTable, Vec<u32>) {
        let mut t = SiteTable::default();
        let mut by_key: HashMap<(String, i64, String), u32> = HashMap::new();
        let mut of_alloc = Vec::with_capacity(allocations.len());
        for a in allocations {
            let id = match t.by_stack.get(&a.stack) {
                Some(&id) => id,
                None => {
                    let site = site_of_stack(snap, a.stack);
                    let key = (site.file.clone(), site.line, site.function.clone());
                    let id = *by_key.entry(key).or_insert_with(|| {
                        t.sites.push(site);
                        (t.sites.len() - 1) as u32
                    });
                    t.by_stack.insert(a.stack, id);
                    id
                }
            };
            of_alloc.push(id);
        }
        (t, of_alloc)
    }

    pub fn get(&self, id: u32) -> Option<&CallSite> {
        self.sites.get(id as usize)
    }

    pub fn site_of_stack(&self, stack: StackId) -> Option<u32> {
        self.by_stack.get(&stack).copied()
    }
}

/// The call site of a stack: its first user frame, else its first Python frame.
pub fn site_of_stack(snap: &Snapshot, stack: StackId) -> CallSite {
    let frames = snap.stacks.get(stack);
    let pick = |f: FrameId| {
        let fr = snap.frames.get(f);
        (f, fr, snap.frames.filename(f))
    };
    let user = frames
        .iter()
        .map(|&f| pick(f))
        .find(|(_, fr, file)| !is_library_file(file, fr.line));
    let (chosen, is_user) = match user {
        Some(u) => (Some(u), true),
        None => (
            frames
                .iter()
                .map(|&f| pick(f))
                .find(|(_, fr, file)| is_python_frame(file, fr.line)),
            false,
        ),
    };
    match chosen {
        Some((f, fr, file)) => CallSite {
            file: file.to_string(),
            line: fr.line,
            function: snap.frames.strings.get(fr.name).to_string(),
            user: is_user,
            stack,
            frame: Some(f),
        },
        None => CallSite {
            file: "<unknown>".into(),
            line: 0,
            function: String::new(),
            user: false,
            stack,
            frame: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::is_library_file;

    #[test]
    fn library_files_are_recognised() {
        assert!(is_library_file(
            "/opt/torch/.venv/lib/python3.12/site-packages/torch/nn/modules/module.py",
            1097
        ));
        assert!(is_library_file("CUDACachingAllocator.cpp", 0));
        assert!(is_library_file("??", 0));
        assert!(is_library_file("<frozen runpy>", 88));
        assert!(is_library_file("/usr/lib/python3.11/threading.py", 10));
        assert!(!is_library_file("/workspace/examples/workloads.py", 158));
        assert!(!is_library_file("train.py", 3));
    }
}
