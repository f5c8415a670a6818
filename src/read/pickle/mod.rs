//! A pickle machine for protocols 0 to 5 that understands only plain data.
//!
//! Memo references (`BINGET` and friends) resolve to *shared* nodes in an arena instead of
//! copies, which is what real snapshots need: PyTorch shares frame dicts and frame lists
//! between thousands of trace entries. While the stream is read, three kinds of node are
//! reduced to typed form as soon as they are complete (see [`snapshot`]), so that a
//! million-event trace never exists as a tree of generic Python objects.
//!
//! Nothing a pickle names is ever imported or called: `GLOBAL`, `REDUCE`, `BUILD` and the other
//! object-construction opcodes are errors. The machine is iterative (no recursion on nesting),
//! and every length the data claims is checked against the bytes that really arrive.
//!
//! The parts: [`opcodes`] defines the format; this file holds the machine's state and its
//! stack, memo and container primitives; [`run`] dispatches opcodes to one function each,
//! grouped by family there and in [`scalars`]; [`snapshot`] is the snapshot-specific decoding
//! (with the interned [`keys`] it matches); [`short_strings`] caches interned short strings;
//! [`text`] decodes protocol 0's text arguments; [`value`] is how values are stored;
//! [`budget`] bounds the memory the data may claim.

mod budget;
mod keys;
mod opcodes;
mod run;
mod scalars;
mod short_strings;
mod snapshot;
mod text;
mod value;

use std::cell::Cell;

use crate::model::{Event, FrameId, FrameTable, PyValue, StackTable, UnknownCounts};

use super::error::{ReadError, Result};
use super::input::Input;
use keys::Keys;
use short_strings::ShortStrings;
pub(crate) use value::{Node, Packed, Value};

/// Called every so often with the bytes of the file read so far; returning `false` cancels
/// loading.
pub type ProgressFn<'a> = &'a (dyn Fn(u64) -> bool + Sync);

/// Deepest nesting accepted when turning unmodelled data into [`PyValue`]s.
const MAX_DEPTH: usize = 512;
/// How far beyond the keys written so far a memo key may jump (see `memo_put`).
const MAX_MEMO_GAP: usize = 1 << 20;
/// Dicts up to this size replace a repeated key as Python does; larger ones just append, so
/// that a hostile dict cannot make inserting quadratic. A pickled dict never repeats a key, and
/// snapshot dicts have a dozen keys at most, so this only bounds the work on crafted input.
const MAX_DEDUP_DICT: usize = 64;
/// How far a memo key may run ahead of the number of bytes read (see `memo_put`).
const MEMO_SLACK: usize = 1 << 16;

/// The machine's state, and after `run` the parsed data waiting for the typed builder.
pub(crate) struct Machine<'r, 'p> {
    input: Input<'r>,
    stack: Vec<Packed>,
    marks: Vec<usize>,
    /// The stack position of the innermost mark (0 with none): values below it belong to
    /// outer containers and cannot be popped. Cached because every pop checks it.
    floor: usize,
    memo: Vec<Packed>,
    /// Ints beyond 60 bits and floats (see [`Packed`]).
    wide: Vec<Value>,
    pub nodes: Vec<Node>,
    pub frames: FrameTable,
    pub stacks: StackTable,
    pub events: Vec<Event>,
    /// (global event index, key, value) for event keys memsight does not model.
    pub event_extras: Vec<(u32, String, PyValue)>,
    pub bigints: Vec<Vec<u8>>,
    pub bytes: Vec<Vec<u8>>,
    pub keys: Keys,
    pub unknown: UnknownCounts,
    pub protocol: Option<u8>,
    scratch: Vec<FrameId>,
    /// Recently read short strings (see [`ShortStrings`]).
    short: ShortStrings,
    /// A reusable buffer for the items of APPENDS/SETITEMS.
    spare: Vec<Packed>,
    progress: Option<ProgressFn<'p>>,
    /// Bytes of memory built from the data outside the machine's vectors (see [`budget`]).
    charged: u64,
    /// Bytes of [`PyValue`] copies made of unmodelled data (a `Cell`: copying borrows the
    /// machine shared).
    copied: Cell<u64>,
}

impl<'r, 'p> Machine<'r, 'p> {
    pub fn new(input: Input<'r>, progress: Option<ProgressFn<'p>>) -> Machine<'r, 'p> {
        let mut frames = FrameTable::default();
        let keys = Keys::new(&mut frames.strings);
        Machine {
            input,
            stack: Vec::with_capacity(1024),
            marks: Vec::with_capacity(64),
            floor: 0,
            memo: Vec::with_capacity(1024),
            wide: Vec::new(),
            nodes: Vec::with_capacity(1024),
            frames,
            stacks: StackTable::default(),
            events: Vec::new(),
            event_extras: Vec::new(),
            bigints: Vec::new(),
            bytes: Vec::new(),
            keys,
            unknown: UnknownCounts::default(),
            protocol: None,
            scratch: Vec::with_capacity(64),
            short: ShortStrings::new(),
            spare: Vec::with_capacity(64),
            progress,
            charged: 0,
            copied: Cell::new(0),
        }
    }

    pub fn compression(&self) -> Option<&'static str> {
        self.input.compression().map(|c| c.name())
    }

    pub fn offset(&self) -> u64 {
        self.input.offset()
    }

    fn malformed(&self, what: impl Into<String>) -> ReadError {
        ReadError::Malformed {
            offset: self.input.offset(),
            what: what.into(),
        }
    }

    #[inline]
    fn pop(&mut self) -> Result<Packed> {
        if self.stack.len() > self.floor {
            if let Some(v) = self.stack.pop() {
                return Ok(v);
            }
        }
        Err(self.underflow())
    }

    #[inline]
    fn top(&self) -> Result<Packed> {
        if self.stack.len() > self.floor {
            if let Some(&v) = self.stack.last() {
                return Ok(v);
            }
        }
        Err(self.underflow())
    }

    #[cold]
    #[inline(never)]
    fn underflow(&self) -> ReadError {
        self.malformed("stack underflow (an opcode needs a value that is not there)")
    }

    #[inline]
    fn push_mark(&mut self) {
        self.floor = self.stack.len();
        self.marks.push(self.floor);
    }

    /// Closes the innermost MARK and returns its stack position.
    #[inline]
    fn close_mark(&mut self, what: &'static str) -> Result<usize> {
        match self.marks.pop() {
            Some(m) => {
                self.floor = self.marks.last().copied().unwrap_or(0);
                Ok(m)
            }
            None => Err(self.malformed(what)),
        }
    }

    /// The value just below a popped mark at stack position `m` (the container that APPENDS or
    /// SETITEMS fills).
    #[inline]
    fn below_mark(&self, m: usize) -> Result<Packed> {
        if m == 0 || m - 1 < self.floor {
            return Err(self.malformed("APPENDS or SETITEMS with no container below its MARK"));
        }
        Ok(self.stack[m - 1])
    }

    /// Pops everything down to the most recent MARK.
    fn pop_mark(&mut self) -> Result<Vec<Packed>> {
        let m = self.close_mark("MARK expected but none is open")?;
        Ok(self.stack.split_off(m))
    }

    fn push_node(&mut self, node: Node) -> Packed {
        let id = self.nodes.len() as u32;
        self.nodes.push(node);
        Packed::node(id)
    }

    /// Stores `v` as a [`Packed`] word (wide ints and floats go to the side table).
    fn pack(&mut self, v: Value) -> Packed {
        match v {
            Value::Unset => Packed::UNSET,
            Value::None => Packed::NONE,
            Value::Bool(b) => Packed::bool(b),
            Value::Int(i) => self.int(i),
            Value::Str(id) => Packed::str(id),
            Value::BigInt(id) => Packed::new(Packed::T_BIGINT, id as u64),
            Value::Bytes(id) => Packed::new(Packed::T_BYTES, id as u64),
            Value::Node(id) => Packed::node(id),
            Value::Event(id) => Packed::event(id),
            Value::Float(_) => self.wide_value(v),
        }
    }

    #[inline(always)]
    fn int(&mut self, i: i64) -> Packed {
        match Packed::small_int(i) {
            Some(p) => p,
            None => self.wide_value(Value::Int(i)),
        }
    }

    #[cold]
    fn wide_value(&mut self, v: Value) -> Packed {
        self.wide.push(v);
        Packed::new(Packed::T_WIDE, self.wide.len() as u64 - 1)
    }

    /// Decodes a stored word.
    #[inline(always)]
    pub fn val(&self, p: Packed) -> Value {
        let id = p.id();
        match p.tag() {
            Packed::T_NONE => Value::None,
            Packed::T_BOOL => Value::Bool(id != 0),
            Packed::T_INT => Value::Int(p.int_payload()),
            Packed::T_STR => Value::Str(id),
            Packed::T_BIGINT => Value::BigInt(id),
            Packed::T_BYTES => Value::Bytes(id),
            Packed::T_NODE => Value::Node(id),
            Packed::T_EVENT => Value::Event(id),
            Packed::T_WIDE => self.wide.get(id as usize).copied().unwrap_or(Value::Unset),
            _ => Value::Unset,
        }
    }

    /// Inlined into the opcode loop: memo reads are a third of a real snapshot's opcodes.
    #[inline(always)]
    fn memo_get(&self, idx: usize) -> Result<Packed> {
        if let Some(&p) = self.memo.get(idx) {
            if p != Packed::UNSET {
                return Ok(p);
            }
        }
        Err(self.memo_unset(idx))
    }

    #[cold]
    #[inline(never)]
    fn memo_unset(&self, idx: usize) -> ReadError {
        self.malformed(format!("memo key {idx} is read before it is written"))
    }

    fn memo_put(&mut self, idx: usize, v: Packed) -> Result<()> {
        if idx >= self.memo.len() {
            // Picklers number memo keys 0, 1, 2, ... and every write costs at least one byte
            // of input, so a key beyond the bytes read so far is hostile: refusing it bounds
            // the memo by the size of the data (a few far keys cannot make it gigabytes).
            let bound = usize::try_from(self.input.offset())
                .unwrap_or(usize::MAX)
                .saturating_add(MEMO_SLACK);
            if idx > self.memo.len() + MAX_MEMO_GAP || idx > bound {
                return Err(ReadError::Limit {
                    offset: self.input.offset(),
                    what: format!(
                        "memo key {idx} is far beyond the {} keys written so far",
                        self.memo.len()
                    ),
                });
            }
            self.memo.resize(idx + 1, Packed::UNSET);
        }
        self.memo[idx] = v;
        Ok(())
    }

    /// Appends items to the list (or set) `target`, reducing event dicts to typed events.
    fn extend_list(&mut self, target: Packed, items: &mut [Packed]) -> Result<()> {
        let Some(id) = target.as_node() else {
            return Err(self.malformed("APPEND(S) on something that is not a list"));
        };
        for item in items.iter_mut() {
            *item = self.absorb(*item)?;
        }
        self.charge(size_of_val(items));
        match self.nodes.get_mut(id as usize) {
            Some(Node::List(v)) | Some(Node::Set(v)) => {
                v.extend_from_slice(items);
                Ok(())
            }
            _ => {
                Err(self.malformed("APPEND(S) or ADDITEMS on something that is not a list or set"))
            }
        }
    }

    fn set_items(&mut self, target: Packed, items: &[Packed]) -> Result<()> {
        if !items.len().is_multiple_of(2) {
            return Err(self.malformed("SETITEMS with an odd number of values"));
        }
        let Some(id) = target.as_node() else {
            return Err(self.malformed("SETITEM(S) on something that is not a dict"));
        };
        let id = id as usize;
        if !matches!(self.nodes.get(id), Some(Node::Dict(_))) {
            return Err(self.malformed("SETITEM(S) on something that is not a dict"));
        }
        self.charge(size_of_val(items));
        for pair in items.chunks_exact(2) {
            let (k, v) = (pair[0], pair[1]);
            // A repeated key replaces the earlier value, as in Python (compared decoded, so
            // that equal wide ints match).
            let key = self.val(k);
            let existing = match &self.nodes[id] {
                Node::Dict(d) if !d.is_empty() && d.len() < MAX_DEDUP_DICT => {
                    d.iter().position(|&(dk, _)| dk == k || self.val(dk) == key)
                }
                _ => None,
            };
            if let Node::Dict(d) = &mut self.nodes[id] {
                match existing {
                    Some(i) => d[i].1 = v,
                    None => d.push((k, v)),
                }
            }
        }
        Ok(())
    }

    /// Converts a value to an owned [`PyValue`] (for data memsight keeps but does not model).
    /// Each value made is charged to the budget: memo references share, copies do not.
    pub fn to_pyvalue(&self, v: Value, depth: usize) -> Result<PyValue> {
        if depth > MAX_DEPTH {
            return Err(ReadError::Limit {
                offset: self.input.offset(),
                what: format!("data nested deeper than {MAX_DEPTH} levels (or a cycle)"),
            });
        }
        let (value, heap) = match v {
            Value::None | Value::Unset => (PyValue::None, 0),
            Value::Bool(b) => (PyValue::Bool(b), 0),
            Value::Int(i) => (PyValue::Int(i), 0),
            Value::Float(f) => (PyValue::Float(f), 0),
            Value::Str(s) => {
                let s = self.frames.strings.get(s);
                (PyValue::Str(s.to_string()), s.len())
            }
            Value::BigInt(i) => {
                let b = self.bigints.get(i as usize).cloned().unwrap_or_default();
                let n = b.len();
                (PyValue::BigInt(b), n)
            }
            Value::Bytes(i) => {
                let b = self.bytes.get(i as usize).cloned().unwrap_or_default();
                let n = b.len();
                (PyValue::Bytes(b), n)
            }
            Value::Event(_) => (PyValue::Str("<trace entry>".into()), 0),
            Value::Node(id) => match self.nodes.get(id as usize) {
                Some(Node::List(items)) => (PyValue::List(self.seq(items, depth)?), 0),
                Some(Node::Tuple(items)) => (PyValue::Tuple(self.seq(items, depth)?), 0),
                Some(Node::Set(items)) => (PyValue::Set(self.seq(items, depth)?), 0),
                Some(Node::Dict(items)) => {
                    let mut out = Vec::with_capacity(items.len());
                    for &(k, v) in items {
                        out.push((
                            self.to_pyvalue(self.val(k), depth + 1)?,
                            self.to_pyvalue(self.val(v), depth + 1)?,
                        ));
                    }
                    (PyValue::Dict(out), 0)
                }
                Some(Node::Frame(f)) => self.frame_value(*f),
                Some(Node::Stack(s)) => {
                    let mut out = Vec::new();
                    for &f in self.stacks.get(*s) {
                        let text =
                            format!("{}:{}", self.frames.filename(f), self.frames.get(f).line);
                        self.charge_copy(size_of::<PyValue>() + text.len())?;
                        out.push(PyValue::Str(text));
                    }
                    (PyValue::List(out), 0)
                }
                Some(Node::Event(_)) => (PyValue::Str("<trace entry>".into()), 0),
                None => (PyValue::None, 0),
            },
        };
        // The allocator's header, for a value with a heap block of its own.
        let header = match &value {
            PyValue::List(v) | PyValue::Tuple(v) | PyValue::Set(v) if !v.is_empty() => 16,
            PyValue::Dict(v) if !v.is_empty() => 16,
            _ if heap > 0 => 16,
            _ => 0,
        };
        self.charge_copy(size_of::<PyValue>() + heap + header)?;
        Ok(value)
    }

    /// A frame as the dict it was read from, and the bytes of its strings.
    fn frame_value(&self, f: FrameId) -> (PyValue, usize) {
        let fr = self.frames.get(f);
        let name = self.frames.strings.get(fr.name);
        let filename = self.frames.strings.get(fr.filename);
        let heap = 3 * size_of::<(PyValue, PyValue)>() + name.len() + filename.len() + 20;
        let dict = PyValue::Dict(vec![
            (PyValue::Str("name".into()), PyValue::Str(name.into())),
            (
                PyValue::Str("filename".into()),
                PyValue::Str(filename.into()),
            ),
            (PyValue::Str("line".into()), PyValue::Int(fr.line)),
        ]);
        (dict, heap)
    }

    fn seq(&self, items: &[Packed], depth: usize) -> Result<Vec<PyValue>> {
        let mut out = Vec::with_capacity(items.len());
        for &v in items {
            out.push(self.to_pyvalue(self.val(v), depth + 1)?);
        }
        Ok(out)
    }

    /// Every so often: reports progress, and checks what the data claimed against the budget.
    fn tick(&self) -> Result<()> {
        if let Some(p) = self.progress {
            if !p(self.input.raw_read()) {
                return Err(ReadError::Cancelled);
            }
        }
        self.check_budget("the values read so far")
    }

    /// Frees what only parsing needs (memo, stacks, the input window). Called once the
    /// stream is read, so that building the typed model does not pay for it.
    pub fn release_parse_state(&mut self) {
        self.memo = Vec::new();
        self.stack = Vec::new();
        self.marks = Vec::new();
        self.floor = 0;
        self.spare = Vec::new();
        self.input.release();
    }

    /// Frees the generic tree (after the builder has read all it needs from it).
    pub fn release_tree(&mut self) {
        self.nodes = Vec::new();
    }

    /// Whether bytes follow the STOP opcode.
    pub fn trailing_data(&mut self) -> Result<bool> {
        Ok(!self.input.at_end()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(bytes: &[u8]) -> Machine<'_, 'static> {
        let input = Input::new(Box::new(bytes)).expect("input opens");
        Machine::new(input, None)
    }

    #[test]
    fn packed_values_round_trip_at_the_60_bit_edges() {
        let mut m = machine(b".");
        let edge = 1i64 << 59;
        let values = [
            Value::None,
            Value::Bool(true),
            Value::Bool(false),
            Value::Int(0),
            Value::Int(-1),
            Value::Int(edge - 1),
            Value::Int(-edge),
            Value::Int(edge),
            Value::Int(-edge - 1),
            Value::Int(i64::MAX),
            Value::Int(i64::MIN),
            Value::Float(-0.5),
            Value::Float(f64::INFINITY),
            Value::Str(u32::MAX),
            Value::BigInt(7),
            Value::Bytes(3),
            Value::Node(u32::MAX),
            Value::Event(12),
            Value::Unset,
        ];
        for v in values {
            let p = m.pack(v);
            assert_eq!(m.val(p), v, "{v:?} packed as {p:?}");
        }
        // Only the four ints beyond 60 bits and the two floats went to the side table.
        assert_eq!(m.wide.len(), 6);
    }

    #[test]
    fn repeated_wide_int_keys_replace_as_in_python() {
        // {2**62: 1, 2**62: 2}, written with LONG1 so that both keys are wide ints.
        let mut p = vec![0x80, 2, b'}', b'('];
        for v in [1u8, 2] {
            p.extend_from_slice(&[0x8a, 8, 0, 0, 0, 0, 0, 0, 0, 0x40, b'K', v]);
        }
        p.extend_from_slice(b"u.");
        let mut m = machine(&p);
        let root = m.run().expect("parses");
        let dict = m.to_pyvalue(root, 0).expect("converts");
        assert_eq!(
            dict,
            PyValue::Dict(vec![(PyValue::Int(1 << 62), PyValue::Int(2))])
        );
    }
}
