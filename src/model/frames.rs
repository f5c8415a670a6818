//! Interned strings, frames and stacks.

/// Index into a [`StringTable`].
pub type StrId = u32;
/// Index into a [`FrameTable`].
pub type FrameId = u32;
/// Index into a [`StackTable`]; `0` is always the empty stack.
pub type StackId = u32;

/// Deduplicated strings. Id 0 is the empty string.
#[derive(Debug, Clone)]
pub struct StringTable {
    strings: Vec<Box<str>>,
    index: foldhash::HashMap<Box<str>, StrId>,
}

impl Default for StringTable {
    fn default() -> Self {
        let mut t = StringTable {
            strings: Vec::new(),
            index: Default::default(),
        };
        t.intern("");
        t
    }
}

impl StringTable {
    /// Returns the id of `s`, adding it on first sight.
    pub fn intern(&mut self, s: &str) -> StrId {
        if let Some(&id) = self.index.get(s) {
            return id;
        }
        let id = self.strings.len() as StrId;
        self.strings.push(s.into());
        self.index.insert(s.into(), id);
        id
    }

    /// The id of `s` if it was interned.
    pub fn lookup(&self, s: &str) -> Option<StrId> {
        self.index.get(s).copied()
    }

    /// The string for `id` (empty for an unknown id, which the reader never hands out).
    pub fn get(&self, id: StrId) -> &str {
        self.strings.get(id as usize).map(|s| &**s).unwrap_or("")
    }

    pub fn len(&self) -> usize {
        self.strings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strings.len() <= 1
    }
}

/// One stack frame as PyTorch records it: a Python frame (`filename` is a path, `line` > 0) or a
/// C++ frame (often `??` or a bare file name and line 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Frame {
    pub name: StrId,
    pub filename: StrId,
    /// -1 when PyTorch wrote SIZE_MAX (2**64-1), its "no line" for some C++ frames.
    pub line: i64,
}

/// Deduplicated frames, with the strings they point into.
#[derive(Debug, Clone, Default)]
pub struct FrameTable {
    pub strings: StringTable,
    frames: Vec<Frame>,
    index: foldhash::HashMap<Frame, FrameId>,
}

impl FrameTable {
    pub fn intern(&mut self, frame: Frame) -> FrameId {
        if let Some(&id) = self.index.get(&frame) {
            return id;
        }
        let id = self.frames.len() as FrameId;
        self.frames.push(frame);
        self.index.insert(frame, id);
        id
    }

    pub fn get(&self, id: FrameId) -> Frame {
        self.frames.get(id as usize).copied().unwrap_or(Frame {
            name: 0,
            filename: 0,
            line: 0,
        })
    }

    pub fn name(&self, id: FrameId) -> &str {
        self.strings.get(self.get(id).name)
    }

    pub fn filename(&self, id: FrameId) -> &str {
        self.strings.get(self.get(id).filename)
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// Deduplicated stacks: each is a slice of frame ids, innermost (most recent call) first, as
/// PyTorch stores them.
#[derive(Debug, Clone)]
pub struct StackTable {
    offsets: Vec<u32>,
    frames: Vec<FrameId>,
    index: foldhash::HashMap<Box<[FrameId]>, StackId>,
}

impl Default for StackTable {
    fn default() -> Self {
        let mut t = StackTable {
            offsets: vec![0],
            frames: Vec::new(),
            index: Default::default(),
        };
        t.intern(&[]);
        t
    }
}

impl StackTable {
    pub fn intern(&mut self, frames: &[FrameId]) -> StackId {
        if let Some(&id) = self.index.get(frames) {
            return id;
        }
        let id = (self.offsets.len() - 1) as StackId;
        self.frames.extend_from_slice(frames);
        self.offsets.push(self.frames.len() as u32);
        self.index.insert(frames.into(), id);
        id
    }

    /// The frames of stack `id`, innermost first.
    pub fn get(&self, id: StackId) -> &[FrameId] {
        let i = id as usize;
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.frames[a as usize..b as usize],
            _ => &[],
        }
    }

    /// Number of distinct stacks, the empty one included.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() <= 1
    }
}
