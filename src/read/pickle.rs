//! A pickle machine for protocols 0 to 5 that understands only plain data.
//!
//! Memo references (`BINGET` and friends) resolve to *shared* nodes in an arena instead of
//! copies, which is what real snapshots need: PyTorch shares frame dicts and frame lists
//! between thousands of trace entries. While the stream is read, three kinds of node are
//! reduced to typed form as soon as they are complete, so that a million-event trace never
//! exists as a tree of generic Python objects:
//! - a dict with `name`/`filename`/`line` becomes an interned [`Frame`],
//! - a list of frames becomes an interned stack (on first use as `frames`),
//! - a dict with an `action` key appended to a list becomes a typed [`Event`].
//!
//! Nothing a pickle names is ever imported or called: `GLOBAL`, `REDUCE`, `BUILD` and the other
//! object-construction opcodes are errors. The machine is iterative (no recursion on nesting),
//! and every length the data claims is checked against the bytes that really arrive.

use crate::model::{
    Action, Event, Frame, FrameId, FrameTable, PyValue, StackId, StackTable, StrId, UnknownCounts,
};

use super::error::{ReadError, Result};
use super::input::Input;

/// A value on the machine's stack or in a container. Scalars are inline; containers live in
/// the node arena so that memo references share them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(StrId),
    BigInt(u32),
    Bytes(u32),
    Node(u32),
    Event(u32),
    /// A memo slot that was never written.
    Unset,
}

/// A value as the machine stores it (on its stack, in the memo, in containers): one word, a
/// 4-bit tag over a 60-bit payload. [`Machine::val`] decodes it into a [`Value`].
///
/// Why one word: the machine moves millions of values. A 16-byte enum is written field by
/// field and then copied whole, which defeats the CPU's store-to-load forwarding (moving to
/// one word took a fifth off the load time), and it doubles the memory of the memo and of
/// every list.
/// Integers that do not fit in 60 bits, and floats (both rare in snapshots), live in a side
/// table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Packed(u64);

impl Packed {
    const SHIFT: u32 = 60;
    const PAYLOAD: u64 = (1 << Self::SHIFT) - 1;
    const T_NONE: u64 = 1;
    const T_BOOL: u64 = 2;
    const T_INT: u64 = 3;
    const T_STR: u64 = 4;
    const T_BIGINT: u64 = 5;
    const T_BYTES: u64 = 6;
    const T_NODE: u64 = 7;
    const T_EVENT: u64 = 8;
    /// An int or float in [`Machine::wide`].
    const T_WIDE: u64 = 9;

    /// A memo slot never written (tag 0).
    pub const UNSET: Packed = Packed(0);
    pub const NONE: Packed = Packed::new(Self::T_NONE, 0);

    #[inline(always)]
    const fn new(tag: u64, payload: u64) -> Packed {
        Packed(tag << Self::SHIFT | payload)
    }

    #[inline(always)]
    pub const fn bool(b: bool) -> Packed {
        Packed::new(Self::T_BOOL, b as u64)
    }

    #[inline(always)]
    pub const fn str(id: StrId) -> Packed {
        Packed::new(Self::T_STR, id as u64)
    }

    #[inline(always)]
    pub const fn node(id: u32) -> Packed {
        Packed::new(Self::T_NODE, id as u64)
    }

    #[inline(always)]
    pub const fn event(id: u32) -> Packed {
        Packed::new(Self::T_EVENT, id as u64)
    }

    /// An integer that fits in the 60-bit payload (as nearly all do).
    #[inline(always)]
    fn small_int(i: i64) -> Option<Packed> {
        const LIMIT: i64 = 1 << (Packed::SHIFT - 1);
        (-LIMIT..LIMIT)
            .contains(&i)
            .then_some(Packed::new(Self::T_INT, i as u64 & Self::PAYLOAD))
    }

    #[inline(always)]
    fn tag(self) -> u64 {
        self.0 >> Self::SHIFT
    }

    #[inline(always)]
    fn id(self) -> u32 {
        self.0 as u32
    }

    /// The arena index when this is a container node.
    #[inline(always)]
    pub fn as_node(self) -> Option<u32> {
        (self.tag() == Self::T_NODE).then_some(self.id())
    }

    /// The string id when this is a string.
    #[inline(always)]
    pub fn as_str(self) -> Option<StrId> {
        (self.tag() == Self::T_STR).then_some(self.id())
    }

    /// The integer when this is one that fits the payload (a wide one is in the side table).
    #[inline(always)]
    fn as_small_int(self) -> Option<i64> {
        (self.tag() == Self::T_INT).then_some(self.int_payload())
    }

    /// The payload read as a sign-extended 60-bit integer.
    #[inline(always)]
    fn int_payload(self) -> i64 {
        const SPARE: u32 = 64 - Packed::SHIFT;
        ((self.0 << SPARE) as i64) >> SPARE
    }
}

/// The items of a container node: nothing allocated while empty, one pointer otherwise.
///
/// Why: a real snapshot has one node per trace entry and per frame list (600k+ in a 1M-event
/// trace), nearly all created empty and reduced to an [`Event`] or a stack before they hold
/// anything. A plain `Vec` would make every node 32 bytes; this keeps nodes at 16.
#[derive(Debug)]
#[allow(clippy::box_collection)] // the point: one pointer, not a three-word Vec, per node
pub(crate) struct Items<T>(Option<Box<Vec<T>>>);

impl<T> Default for Items<T> {
    fn default() -> Self {
        Items(None)
    }
}

impl<T: Clone> Items<T> {
    pub fn new() -> Items<T> {
        Items(None)
    }

    pub fn from_vec(v: Vec<T>) -> Items<T> {
        if v.is_empty() {
            Items(None)
        } else {
            Items(Some(Box::new(v)))
        }
    }

    fn vec(&mut self) -> &mut Vec<T> {
        self.0.get_or_insert_with(Default::default)
    }

    pub fn push(&mut self, x: T) {
        self.vec().push(x);
    }

    pub fn extend_from_slice(&mut self, xs: &[T]) {
        if !xs.is_empty() {
            self.vec().extend_from_slice(xs);
        }
    }
}

impl<T> std::ops::Deref for Items<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.0.as_deref().map(Vec::as_slice).unwrap_or(&[])
    }
}

impl<T> std::ops::DerefMut for Items<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self.0.as_deref_mut() {
            Some(v) => v.as_mut_slice(),
            None => &mut [],
        }
    }
}

impl<'a, T> IntoIterator for &'a Items<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        std::ops::Deref::deref(self).iter()
    }
}

#[derive(Debug)]
pub(crate) enum Node {
    List(Items<Packed>),
    Tuple(Items<Packed>),
    Dict(Items<(Packed, Packed)>),
    Set(Items<Packed>),
    Frame(FrameId),
    Stack(StackId),
    Event(u32),
}

/// A trace entry's key, as [`Machine::make_event`] dispatches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
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
    fn new(strings: &mut crate::model::StringTable) -> Keys {
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
    fn field(&self, id: StrId) -> Field {
        self.fields
            .get(id as usize)
            .copied()
            .unwrap_or(Field::Other)
    }

    #[inline(always)]
    fn action(&self, id: StrId) -> Action {
        match self.actions.get(id as usize) {
            Some(Some(a)) => *a,
            _ => Action::Other(id),
        }
    }
}

/// Called every so often with the machine's progress; returning `false` cancels loading.
pub type ProgressFn<'a> = &'a (dyn Fn(u64) -> bool + Sync);

/// Deepest nesting accepted when turning unmodelled data into [`PyValue`]s.
const MAX_DEPTH: usize = 512;
/// Most elements a single MARK may group (a corrupt stream could otherwise build huge vectors
/// of copies of one value with DUP).
const MAX_MEMO_GAP: usize = 1 << 20;
/// Longest frame list interned batch by batch as it arrives (see `try_stack_from_appends`).
const MAX_INCREMENTAL_STACK: usize = 4096;
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
}

/// A direct-mapped cache of short strings (up to 16 bytes) to their interned ids.
///
/// Why: every trace entry's keys (`action`, `addr`, `size`, ...) and its action name arrive as
/// fresh string objects, not memo references, so a 1M-event trace interns millions of the same
/// few strings. A hit here is two word compares; a miss falls back to the interner (UTF-8
/// check, hash, compare). Only valid UTF-8 that was interned as itself is cached, so a hit
/// returns exactly what the interner would.
struct ShortStrings {
    slots: Box<[(u128, u32, StrId)]>,
}

impl ShortStrings {
    const EMPTY: u32 = u32::MAX;

    fn new() -> ShortStrings {
        ShortStrings {
            slots: vec![(0, Self::EMPTY, 0); 256].into_boxed_slice(),
        }
    }

    #[inline(always)]
    fn key(raw: &[u8]) -> Option<(u128, usize)> {
        if raw.len() > 16 {
            return None;
        }
        let mut buf = [0u8; 16];
        buf[..raw.len()].copy_from_slice(raw);
        let k = u128::from_le_bytes(buf);
        Some((k, Self::slot(k, raw.len())))
    }

    #[inline(always)]
    fn slot(k: u128, len: usize) -> usize {
        let mix = (k as u64) ^ ((k >> 64) as u64).rotate_left(29) ^ len as u64;
        (mix.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize
    }

    #[inline(always)]
    fn get(&self, raw: &[u8]) -> Option<StrId> {
        let (k, slot) = Self::key(raw)?;
        self.lookup(k, slot, raw.len())
    }

    /// As [`Self::get`], for a string given as its bytes, little-endian, zero-padded.
    #[inline(always)]
    fn get_key(&self, k: u128, len: usize) -> Option<StrId> {
        self.lookup(k, Self::slot(k, len), len)
    }

    #[inline(always)]
    fn lookup(&self, k: u128, slot: usize, len: usize) -> Option<StrId> {
        let &(key, l, id) = self.slots.get(slot)?;
        (l == len as u32 && key == k).then_some(id)
    }

    #[inline(always)]
    fn put(&mut self, raw: &[u8], id: StrId) {
        if let Some((k, slot)) = Self::key(raw) {
            if let Some(s) = self.slots.get_mut(slot) {
                *s = (k, raw.len() as u32, id);
            }
        }
    }
}

/// Names of opcodes the reader refuses, for error messages.
fn forbidden_name(op: u8) -> Option<&'static str> {
    Some(match op {
        b'c' => "GLOBAL",
        0x93 => "STACK_GLOBAL",
        b'R' => "REDUCE",
        b'b' => "BUILD",
        b'i' => "INST",
        b'o' => "OBJ",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => return None,
    })
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

    fn intern_str(&mut self, bytes_are_utf8: bool, raw: Vec<u8>) -> Packed {
        let s = if bytes_are_utf8 {
            match String::from_utf8(raw) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            }
        } else {
            raw.iter().map(|&b| b as char).collect()
        };
        Packed::str(self.frames.strings.intern(&s))
    }

    /// Reads a UTF-8 string of `n` bytes straight from the window and interns it.
    #[inline]
    fn read_str(&mut self, n: usize) -> Result<Packed> {
        let raw = self.input.take(n, "a string")?;
        if let Some(id) = self.short.get(raw) {
            return Ok(Packed::str(id));
        }
        let id = match std::str::from_utf8(raw) {
            Ok(s) => self.frames.strings.intern(s),
            Err(_) => {
                let s = String::from_utf8_lossy(raw).into_owned();
                return Ok(Packed::str(self.frames.strings.intern(&s)));
            }
        };
        self.short.put(raw, id);
        Ok(Packed::str(id))
    }

    fn read_bytes(&mut self, n: usize) -> Result<Packed> {
        let raw = self.input.take(n, "a bytes object")?.to_vec();
        self.bytes.push(raw);
        Ok(Packed::new(Packed::T_BYTES, self.bytes.len() as u64 - 1))
    }

    /// A little-endian two's complement integer (LONG1/LONG4).
    fn long_from_bytes(&mut self, raw: &[u8]) -> Value {
        if raw.is_empty() {
            return Value::Int(0);
        }
        // Trim redundant sign bytes, then fit in i64 when possible.
        let neg = raw[raw.len() - 1] & 0x80 != 0;
        let fill = if neg { 0xff } else { 0x00 };
        let mut len = raw.len();
        while len > 1 && raw[len - 1] == fill && (raw[len - 2] & 0x80 != 0) == neg {
            len -= 1;
        }
        if len <= 8 {
            let mut a = [fill; 8];
            a[..len].copy_from_slice(&raw[..len]);
            Value::Int(i64::from_le_bytes(a))
        } else {
            self.bigints.push(raw[..len].to_vec());
            Value::BigInt(self.bigints.len() as u32 - 1)
        }
    }

    fn decimal_int(&mut self, text: &[u8], what: &str) -> Result<Value> {
        let t = std::str::from_utf8(text)
            .map_err(|_| self.malformed(format!("{what}: not ASCII")))?
            .trim();
        let t = t.strip_suffix('L').unwrap_or(t);
        if let Ok(i) = t.parse::<i64>() {
            return Ok(Value::Int(i));
        }
        // Larger than i64: convert the decimal to two's complement bytes.
        let (neg, digits) = match t.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 4096 {
            return Err(self.malformed(format!("{what}: {t:?} is not an integer")));
        }
        let mut mag: Vec<u8> = vec![0];
        for d in digits.bytes() {
            let mut carry = (d - b'0') as u32;
            for byte in mag.iter_mut() {
                let v = *byte as u32 * 10 + carry;
                *byte = v as u8;
                carry = v >> 8;
            }
            while carry > 0 {
                mag.push(carry as u8);
                carry >>= 8;
            }
        }
        mag.push(0);
        if neg {
            let mut carry = 1u16;
            for byte in mag.iter_mut() {
                let v = (!*byte) as u16 + carry;
                *byte = v as u8;
                carry = v >> 8;
            }
        }
        Ok(self.long_from_bytes(&mag))
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

    /// APPENDS of frames into an empty list (or a list already reduced to a stack, for lists
    /// pickled in several batches) interns the stack straight from the machine's stack, without
    /// materialising the list. Returns whether it did.
    fn try_stack_from_appends(&mut self, target: Packed, mark: usize) -> Result<bool> {
        let Some(id) = target.as_node() else {
            return Ok(false);
        };
        let prefix: Option<StackId> = match self.nodes.get(id as usize) {
            Some(Node::List(v)) if v.is_empty() => None,
            Some(Node::Stack(s)) => Some(*s),
            _ => return Ok(false),
        };
        let n = self.stack.len() - mark;
        if n == 0 {
            return Ok(prefix.is_some());
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        if let Some(s) = prefix {
            scratch.extend_from_slice(self.stacks.get(s));
        }
        // Each batch appended to a stack interns a new, longer stack: fine for real frame
        // lists (one or two batches), quadratic for a hostile list appended item by item. Past
        // a length no real stack reaches, the list stays a plain list.
        let mut all_frames = scratch.len() + n <= MAX_INCREMENTAL_STACK;
        for i in mark..self.stack.len() {
            if !all_frames {
                break;
            }
            match self.as_frame(self.stack[i]) {
                Some(f) => scratch.push(f),
                None => {
                    all_frames = false;
                    break;
                }
            }
        }
        if all_frames {
            let sid = self.stacks.intern(&scratch);
            self.nodes[id as usize] = Node::Stack(sid);
            self.stack.truncate(mark);
        } else if let Some(s) = prefix {
            // A stack that turns out to continue with non-frames: make it a list again.
            let frames: Vec<FrameId> = self.stacks.get(s).to_vec();
            let mut list = Vec::with_capacity(frames.len());
            for f in frames {
                let node = self.push_node(Node::Frame(f));
                list.push(node);
            }
            self.nodes[id as usize] = Node::List(Items::from_vec(list));
        }
        self.scratch = scratch;
        Ok(all_frames)
    }

    /// The frame id of `v` if it is a frame dict (`name`, `filename`, `line` and nothing else).
    #[inline]
    fn as_frame(&mut self, v: Packed) -> Option<FrameId> {
        let id = v.as_node()?;
        match &self.nodes[id as usize] {
            Node::Frame(f) => Some(*f),
            Node::Dict(d) if d.len() == 3 => {
                let (kn, kf, kl) = (self.keys.name, self.keys.filename, self.keys.line);
                let mut frame = Frame {
                    name: 0,
                    filename: 0,
                    line: 0,
                };
                let mut seen = 0u8;
                for &(k, val) in d {
                    match (self.val(k), self.val(val)) {
                        (Value::Str(k), Value::Str(s)) if k == kn => {
                            frame.name = s;
                            seen |= 1;
                        }
                        (Value::Str(k), Value::Str(s)) if k == kf => {
                            frame.filename = s;
                            seen |= 2;
                        }
                        (Value::Str(k), Value::Int(i)) if k == kl => {
                            frame.line = i;
                            seen |= 4;
                        }
                        // PyTorch writes SIZE_MAX (2**64-1) when it has no line number.
                        (Value::Str(k), Value::BigInt(_)) if k == kl => {
                            frame.line = -1;
                            seen |= 4;
                        }
                        _ => return None,
                    }
                }
                if seen != 7 {
                    return None;
                }
                let fid = self.frames.intern(frame);
                self.nodes[id as usize] = Node::Frame(fid);
                Some(fid)
            }
            _ => None,
        }
    }

    /// SETITEMS that fills an empty dict with a trace entry (it has an `action` key) builds
    /// the typed event straight from the stack, without materialising the dict. Returns
    /// whether it did.
    fn try_event_from_setitems(&mut self, target: Packed, mark: usize) -> Result<bool> {
        let Some(id) = target.as_node() else {
            return Ok(false);
        };
        match self.nodes.get(id as usize) {
            Some(Node::Dict(d)) if d.is_empty() => {}
            _ => return Ok(false),
        }
        let items = &self.stack[mark..];
        if !items.len().is_multiple_of(2) {
            return Ok(false);
        }
        let action = Packed::str(self.keys.action);
        if !items.iter().step_by(2).any(|k| *k == action) {
            return Ok(false);
        }
        // The pairs are read in place: the stack is lent out while the event is built (making
        // an event never touches the machine's stack).
        let stack = std::mem::take(&mut self.stack);
        let idx = self.events.len() as u32;
        let event = self.make_event(idx, &stack[mark..]);
        self.stack = stack;
        self.stack.truncate(mark);
        self.events.push(event?);
        self.nodes[id as usize] = Node::Event(idx);
        Ok(true)
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

    /// Turns a completed event dict into a typed event (other values pass through).
    fn absorb(&mut self, v: Packed) -> Result<Packed> {
        let Some(id) = v.as_node() else { return Ok(v) };
        let action_key = Packed::str(self.keys.action);
        let is_event = match &self.nodes[id as usize] {
            Node::Dict(d) => d.iter().any(|(k, _)| *k == action_key),
            Node::Event(e) => return Ok(Packed::event(*e)),
            _ => false,
        };
        if !is_event {
            return Ok(v);
        }
        let Node::Dict(items) = std::mem::replace(&mut self.nodes[id as usize], Node::Event(0))
        else {
            return Ok(v);
        };
        let flat: Vec<Packed> = items.iter().flat_map(|&(k, v)| [k, v]).collect();
        let idx = self.events.len() as u32;
        let event = self.make_event(idx, &flat)?;
        self.events.push(event);
        self.nodes[id as usize] = Node::Event(idx);
        Ok(Packed::event(idx))
    }

    /// Builds a typed event from flat key/value pairs.
    fn make_event(&mut self, idx: u32, items: &[Packed]) -> Result<Event> {
        let mut ev = Event {
            action: Action::Other(0),
            addr: 0,
            size: 0,
            stream: 0,
            time_us: 0,
            device_free: 0,
            stack: 0,
            compile_context: 0,
            user_metadata: 0,
        };
        // Values are tested for the type each field expects and decoded in full only when
        // they are something else: a general decode is a jump the CPU mispredicts.
        for pair in items.chunks_exact(2) {
            let (key, val) = (pair[0], pair[1]);
            let Some(key) = key.as_str() else {
                self.event_extra(idx, None, self.val(key), self.val(val))?;
                continue;
            };
            match self.keys.field(key) {
                Field::Action => match val.as_str() {
                    Some(s) => {
                        ev.action = self.keys.action(s);
                        if let Action::Other(s) = ev.action {
                            let name = self.frames.strings.get(s).to_string();
                            *self.unknown.actions.entry(name).or_default() += 1;
                        }
                    }
                    None => return Err(self.malformed("a trace entry's action is not a string")),
                },
                Field::Addr => ev.addr = self.u64_field(val, "addr")?,
                Field::Size => ev.size = self.u64_field(val, "size")?,
                Field::Stream => ev.stream = self.u64_field(val, "stream")?,
                Field::TimeUs => {
                    ev.time_us = match val.as_small_int() {
                        Some(i) => i,
                        None => match self.val(val) {
                            Value::Int(i) => i,
                            Value::Float(f) => f as i64,
                            _ => {
                                return Err(
                                    self.malformed("a trace entry's time_us is not a number")
                                )
                            }
                        },
                    }
                }
                Field::Frames => {
                    ev.stack = match val.as_node().and_then(|id| self.interned_stack(id)) {
                        Some(s) => s,
                        None => self.stack_of(self.val(val))?,
                    }
                }
                Field::DeviceFree => ev.device_free = self.u64_field(val, "device_free")?,
                Field::CompileContext => ev.compile_context = self.str_or_text(val)?,
                Field::UserMetadata => ev.user_metadata = self.str_or_text(val)?,
                Field::Other => self.event_extra(idx, Some(key), Value::Str(key), self.val(val))?,
            }
        }
        Ok(ev)
    }

    /// Keeps a trace entry's key/value pair that memsight does not model, and counts the key.
    #[cold]
    #[inline(never)]
    fn event_extra(&mut self, idx: u32, key: Option<StrId>, k: Value, val: Value) -> Result<()> {
        let (counted, name) = match key {
            Some(id) => {
                let name = self.frames.strings.get(id).to_string();
                (format!("event.{name}"), name)
            }
            None => (
                "event.<non-string key>".to_string(),
                self.to_pyvalue(k, 0)?.to_string(),
            ),
        };
        let value = self.to_pyvalue(val, 0)?;
        *self.unknown.keys.entry(counted).or_default() += 1;
        self.event_extras.push((idx, name, value));
        Ok(())
    }

    /// A non-negative integer field: the common case inline, the rest in [`Self::as_u64`].
    #[inline(always)]
    fn u64_field(&self, v: Packed, field: &str) -> Result<u64> {
        match v.as_small_int() {
            Some(i) if i >= 0 => Ok(i as u64),
            _ => self.as_u64(self.val(v), field),
        }
    }

    /// A string field, or the text of another value (kept, not dropped).
    #[inline(always)]
    fn str_or_text(&mut self, v: Packed) -> Result<StrId> {
        if let Some(s) = v.as_str() {
            return Ok(s);
        }
        if v == Packed::NONE {
            return Ok(0);
        }
        self.text_of(self.val(v))
    }

    #[cold]
    #[inline(never)]
    fn text_of(&mut self, v: Value) -> Result<StrId> {
        let text = self.to_pyvalue(v, 0)?.to_string();
        Ok(self.frames.strings.intern(&text))
    }

    /// An unsigned integer field. Negative values are only accepted for `stream` (where they
    /// are reinterpreted, as CUDA stream handles are pointers).
    pub fn as_u64(&self, v: Value, field: &str) -> Result<u64> {
        match v {
            Value::Int(i) if i >= 0 => Ok(i as u64),
            Value::Int(i) if field == "stream" => Ok(i as u64),
            Value::Int(i) if field == "max_split_size" || field == "segment_pool_id" => {
                Ok(i as u64)
            }
            Value::Bool(b) => Ok(b as u64),
            Value::BigInt(id) => {
                let raw = &self.bigints[id as usize];
                // Non-negative and at most 8 significant bytes (plus a zero sign byte).
                let neg = raw.last().is_some_and(|b| b & 0x80 != 0);
                let significant = raw.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
                if !neg && significant <= 8 {
                    let mut a = [0u8; 8];
                    a[..significant].copy_from_slice(&raw[..significant]);
                    Ok(u64::from_le_bytes(a))
                } else {
                    Err(self.malformed(format!("{field} does not fit in 64 bits")))
                }
            }
            Value::Int(i) => Err(self.malformed(format!("{field} is negative ({i})"))),
            _ => Err(self.malformed(format!("{field} is not an integer"))),
        }
    }

    /// The stack id of a `frames` value: a list of frame dicts, shared through the memo.
    #[inline]
    pub fn stack_of(&mut self, v: Value) -> Result<StackId> {
        if let Some(s) = match v {
            Value::Node(id) => self.interned_stack(id),
            _ => None,
        } {
            return Ok(s);
        }
        self.stack_of_list(v)
    }

    /// The stack of node `id` if its frame list is already interned (most entries' are, by
    /// `try_stack_from_appends`).
    #[inline(always)]
    fn interned_stack(&self, id: u32) -> Option<StackId> {
        match self.nodes.get(id as usize) {
            Some(Node::Stack(s)) => Some(*s),
            _ => None,
        }
    }

    #[inline(never)]
    fn stack_of_list(&mut self, v: Value) -> Result<StackId> {
        let id = match v {
            Value::None => return Ok(0),
            Value::Node(id) => id as usize,
            _ => return Err(self.malformed("frames is not a list")),
        };
        let items = match &mut self.nodes[id] {
            Node::Stack(s) => return Ok(*s),
            Node::List(items) | Node::Tuple(items) => std::mem::take(items),
            _ => return Err(self.malformed("frames is not a list")),
        };
        if items.is_empty() {
            // `frames: []` (a third of big_trace's entries): the empty stack is always id 0.
            self.nodes[id] = Node::Stack(0);
            return Ok(0);
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        for item in &items {
            scratch.push(self.frame_of(*item)?);
        }
        let sid = self.stacks.intern(&scratch);
        self.scratch = scratch;
        self.nodes[id] = Node::Stack(sid);
        Ok(sid)
    }

    fn frame_of(&mut self, v: Packed) -> Result<FrameId> {
        let Some(id) = v.as_node() else {
            return Err(self.malformed("a frame is not a dict"));
        };
        let id = id as usize;
        let items = match &self.nodes[id] {
            Node::Frame(f) => return Ok(*f),
            Node::Dict(d) => d,
            _ => return Err(self.malformed("a frame is not a dict")),
        };
        let mut frame = Frame {
            name: 0,
            filename: 0,
            line: 0,
        };
        let (kn, kf, kl) = (self.keys.name, self.keys.filename, self.keys.line);
        let mut extra: Vec<String> = Vec::new();
        for &(k, val) in items {
            match (self.val(k), self.val(val)) {
                (Value::Str(k), Value::Str(s)) if k == kn => frame.name = s,
                (Value::Str(k), Value::Str(s)) if k == kf => frame.filename = s,
                (Value::Str(k), Value::Int(i)) if k == kl => frame.line = i,
                (Value::Str(k), Value::None) if k == kl => frame.line = 0,
                // PyTorch writes SIZE_MAX (2**64-1) when it has no line number.
                (Value::Str(k), Value::BigInt(_)) if k == kl => frame.line = -1,
                (Value::Str(k), _) if k == kn || k == kf || k == kl => {
                    return Err(
                        self.malformed("a frame's name, filename or line has the wrong type")
                    )
                }
                (Value::Str(k), _) => extra.push(self.frames.strings.get(k).to_string()),
                _ => extra.push("<non-string key>".into()),
            }
        }
        for e in extra {
            *self.unknown.keys.entry(format!("frame.{e}")).or_default() += 1;
        }
        let fid = self.frames.intern(frame);
        self.nodes[id] = Node::Frame(fid);
        Ok(fid)
    }

    /// Converts a value to an owned [`PyValue`] (for data memsight keeps but does not model).
    pub fn to_pyvalue(&self, v: Value, depth: usize) -> Result<PyValue> {
        if depth > MAX_DEPTH {
            return Err(ReadError::Limit {
                offset: self.input.offset(),
                what: format!("data nested deeper than {MAX_DEPTH} levels (or a cycle)"),
            });
        }
        Ok(match v {
            Value::None | Value::Unset => PyValue::None,
            Value::Bool(b) => PyValue::Bool(b),
            Value::Int(i) => PyValue::Int(i),
            Value::Float(f) => PyValue::Float(f),
            Value::Str(s) => PyValue::Str(self.frames.strings.get(s).to_string()),
            Value::BigInt(i) => PyValue::BigInt(self.bigints[i as usize].clone()),
            Value::Bytes(i) => PyValue::Bytes(self.bytes[i as usize].clone()),
            Value::Event(_) => PyValue::Str("<trace entry>".into()),
            Value::Node(id) => match &self.nodes[id as usize] {
                Node::List(items) => PyValue::List(self.seq(items, depth)?),
                Node::Tuple(items) => PyValue::Tuple(self.seq(items, depth)?),
                Node::Set(items) => PyValue::Set(self.seq(items, depth)?),
                Node::Dict(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for &(k, v) in items {
                        out.push((
                            self.to_pyvalue(self.val(k), depth + 1)?,
                            self.to_pyvalue(self.val(v), depth + 1)?,
                        ));
                    }
                    PyValue::Dict(out)
                }
                Node::Frame(f) => {
                    let fr = self.frames.get(*f);
                    PyValue::Dict(vec![
                        (
                            PyValue::Str("name".into()),
                            PyValue::Str(self.frames.strings.get(fr.name).into()),
                        ),
                        (
                            PyValue::Str("filename".into()),
                            PyValue::Str(self.frames.strings.get(fr.filename).into()),
                        ),
                        (PyValue::Str("line".into()), PyValue::Int(fr.line)),
                    ])
                }
                Node::Stack(s) => PyValue::List(
                    self.stacks
                        .get(*s)
                        .iter()
                        .map(|&f| {
                            PyValue::Str(format!(
                                "{}:{}",
                                self.frames.filename(f),
                                self.frames.get(f).line
                            ))
                        })
                        .collect(),
                ),
                Node::Event(_) => PyValue::Str("<trace entry>".into()),
            },
        })
    }

    fn seq(&self, items: &[Packed], depth: usize) -> Result<Vec<PyValue>> {
        items
            .iter()
            .map(|&v| self.to_pyvalue(self.val(v), depth + 1))
            .collect()
    }

    fn tick(&self) -> Result<()> {
        if let Some(p) = self.progress {
            if !p(self.input.offset()) {
                return Err(ReadError::Cancelled);
            }
        }
        Ok(())
    }

    /// The next opcode when the window is empty: refills it, or reports the missing STOP.
    #[cold]
    #[inline(never)]
    fn next_op_slow(&mut self) -> Result<u8> {
        match self.input.next_byte()? {
            Some(b) => Ok(b),
            None => Err(ReadError::Truncated {
                offset: self.input.offset(),
                what: "the next opcode (no STOP before the end of the data)",
            }),
        }
    }

    /// Runs the machine to STOP and returns the root value.
    pub fn run(&mut self) -> Result<Value> {
        let mut ops: u32 = 0;
        let first = match self.input.peek_byte()? {
            Some(b) => b,
            None => {
                return Err(ReadError::NotPickle {
                    offset: 0,
                    what: "the file is empty".into(),
                })
            }
        };
        // A pickle starts with PROTO (protocol 2+) or a protocol 0/1 opcode that pushes a
        // value or a mark; anything else means this is some other kind of file.
        if !matches!(
            first,
            0x80 | b'('
                | b']'
                | b'}'
                | b')'
                | b'N'
                | b'I'
                | b'J'
                | b'K'
                | b'M'
                | b'L'
                | b'F'
                | b'G'
                | b'S'
                | b'T'
                | b'U'
                | b'V'
                | b'X'
        ) {
            return Err(ReadError::NotPickle {
                offset: 0,
                what: format!("it starts with byte 0x{first:02x}, which no pickle starts with"),
            });
        }
        loop {
            // Error paths work out the opcode's offset from the bytes its arguments took, so
            // that the loop does not track it for every opcode.
            let op = match self.input.next_fast() {
                Some(b) => b,
                None => self.next_op_slow()?,
            };
            ops = ops.wrapping_add(1);
            if ops & 0x3_ffff == 0 {
                self.tick()?;
            }
            match op {
                0x80 => {
                    let p = self.input.u8("the protocol number")?;
                    if p > 5 {
                        return Err(self.malformed(format!("unknown pickle protocol {p}")));
                    }
                    // Only a PROTO at the very start of the stream says the protocol.
                    if self.input.offset() == 2 {
                        self.protocol = Some(p);
                    }
                }
                0x95 => {
                    // FRAME: a length hint only.
                    self.input.u64("a FRAME length")?;
                }
                b'.' => {
                    let v = self.pop()?;
                    let v = self.absorb(v)?;
                    if self.protocol.is_none() {
                        self.protocol = Some(0);
                    }
                    return Ok(self.val(v));
                }
                b'(' => self.push_mark(),
                b'0' => {
                    if !self.marks.is_empty() && self.floor == self.stack.len() {
                        self.close_mark("POP of a MARK")?;
                    } else {
                        self.pop()?;
                    }
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?;
                    self.stack.push(v);
                }
                b'N' => self.stack.push(Packed::NONE),
                0x88 => self.stack.push(Packed::bool(true)),
                0x89 => self.stack.push(Packed::bool(false)),
                b'J' => {
                    let v = self.input.u32("a BININT")? as i32;
                    let p = self.int(v as i64);
                    self.stack.push(p);
                }
                b'K' => {
                    let v = self.input.u8("a BININT1")?;
                    let p = self.int(v as i64);
                    self.stack.push(p);
                }
                b'M' => {
                    let v = self.input.u16("a BININT2")?;
                    let p = self.int(v as i64);
                    self.stack.push(p);
                }
                0x8a => {
                    // Fast path: length byte and up to 8 bytes of integer in one wide load,
                    // sign-extended with shifts.
                    if let Some(w) = self.input.peek16() {
                        let n = w[0] as usize;
                        if (1..=8).contains(&n) {
                            let mut a = [0u8; 8];
                            a.copy_from_slice(&w[1..9]);
                            let shift = 64 - 8 * n as u32;
                            let i = (i64::from_le_bytes(a) << shift) >> shift;
                            self.input.skip(1 + n);
                            let p = self.int(i);
                            self.stack.push(p);
                            continue;
                        }
                    }
                    let n = self.input.u8("a LONG1 length")? as usize;
                    let raw = self.input.take(n, "a LONG1")?;
                    let v = if n <= 8 && n > 0 {
                        // Fast path: sign-extend up to 8 bytes.
                        let fill = if raw[n - 1] & 0x80 != 0 { 0xff } else { 0 };
                        let mut a = [fill; 8];
                        a[..n].copy_from_slice(raw);
                        Value::Int(i64::from_le_bytes(a))
                    } else {
                        let raw = raw.to_vec();
                        self.long_from_bytes(&raw)
                    };
                    let p = self.pack(v);
                    self.stack.push(p);
                }
                0x8b => {
                    let n = self.input.u32("a LONG4 length")? as usize;
                    if n > 1 << 16 {
                        return Err(ReadError::Limit {
                            offset: self.input.offset() - 5,
                            what: format!("a {n}-byte integer"),
                        });
                    }
                    let raw = self.input.take(n, "a LONG4")?.to_vec();
                    let v = self.long_from_bytes(&raw);
                    let p = self.pack(v);
                    self.stack.push(p);
                }
                b'I' => {
                    let line = self.input.line("an INT")?.to_vec();
                    let v = match line.as_slice() {
                        b"01" => Value::Bool(true),
                        b"00" => Value::Bool(false),
                        _ => self.decimal_int(&line, "INT")?,
                    };
                    let p = self.pack(v);
                    self.stack.push(p);
                }
                b'L' => {
                    let line = self.input.line("a LONG")?.to_vec();
                    let v = self.decimal_int(&line, "LONG")?;
                    let p = self.pack(v);
                    self.stack.push(p);
                }
                b'G' => {
                    let raw = self.input.take(8, "a BINFLOAT")?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(raw);
                    let p = self.pack(Value::Float(f64::from_be_bytes(a)));
                    self.stack.push(p);
                }
                b'F' => {
                    let line = self.input.line("a FLOAT")?;
                    let f = std::str::from_utf8(line)
                        .ok()
                        .and_then(|s| s.trim().parse::<f64>().ok());
                    match f {
                        Some(f) => {
                            let p = self.pack(Value::Float(f));
                            self.stack.push(p);
                        }
                        None => return Err(self.malformed("FLOAT is not a number")),
                    }
                }
                0x8c => {
                    // Fast path: a short string already in the cache, found with one wide load.
                    if let Some(w) = self.input.peek16() {
                        let n = w[0] as usize;
                        if n < 16 {
                            let mut a = [0u8; 16];
                            a.copy_from_slice(&w);
                            let key = u128::from_le_bytes(a) >> 8;
                            let key = key & ((1u128 << (8 * n)) - 1);
                            if let Some(id) = self.short.get_key(key, n) {
                                self.input.skip(1 + n);
                                self.stack.push(Packed::str(id));
                                continue;
                            }
                        }
                    }
                    let n = self.input.u8("a SHORT_BINUNICODE length")? as usize;
                    let v = self.read_str(n)?;
                    self.stack.push(v);
                }
                b'X' => {
                    let n = self.input.u32("a BINUNICODE length")? as usize;
                    let v = self.read_str(n)?;
                    self.stack.push(v);
                }
                0x8d => {
                    let n = self.input.u64("a BINUNICODE8 length")?;
                    let n = usize::try_from(n).map_err(|_| ReadError::Limit {
                        offset: self.input.offset() - 9,
                        what: format!("a string of {n} bytes"),
                    })?;
                    let v = self.read_str(n)?;
                    self.stack.push(v);
                }
                b'V' => {
                    let line = self.input.line("a UNICODE")?.to_vec();
                    let s = raw_unicode_escape(&line);
                    let id = self.frames.strings.intern(&s);
                    self.stack.push(Packed::str(id));
                }
                b'S' => {
                    let line = self.input.line("a STRING")?.to_vec();
                    let raw = python_string_literal(&line)
                        .ok_or_else(|| self.malformed("STRING is not a quoted string"))?;
                    let v = self.intern_str(false, raw);
                    self.stack.push(v);
                }
                b'U' => {
                    let n = self.input.u8("a SHORT_BINSTRING length")? as usize;
                    let raw = self.input.take(n, "a SHORT_BINSTRING")?.to_vec();
                    let v = self.intern_str(false, raw);
                    self.stack.push(v);
                }
                b'T' => {
                    let n = self.input.u32("a BINSTRING length")? as usize;
                    let raw = self.input.take(n, "a BINSTRING")?.to_vec();
                    let v = self.intern_str(false, raw);
                    self.stack.push(v);
                }
                b'C' => {
                    let n = self.input.u8("a SHORT_BINBYTES length")? as usize;
                    let v = self.read_bytes(n)?;
                    self.stack.push(v);
                }
                b'B' => {
                    let n = self.input.u32("a BINBYTES length")? as usize;
                    let v = self.read_bytes(n)?;
                    self.stack.push(v);
                }
                0x8e | 0x96 => {
                    let n = self.input.u64("a BINBYTES8 length")?;
                    let n = usize::try_from(n).map_err(|_| ReadError::Limit {
                        offset: self.input.offset() - 9,
                        what: format!("a bytes object of {n} bytes"),
                    })?;
                    let v = self.read_bytes(n)?;
                    self.stack.push(v);
                }
                b']' => {
                    let v = self.push_node(Node::List(Items::new()));
                    self.stack.push(v);
                }
                b'}' => {
                    let v = self.push_node(Node::Dict(Items::new()));
                    self.stack.push(v);
                }
                b')' => {
                    let v = self.push_node(Node::Tuple(Items::new()));
                    self.stack.push(v);
                }
                0x8f => {
                    let v = self.push_node(Node::Set(Items::new()));
                    self.stack.push(v);
                }
                b'l' => {
                    let mut items = self.pop_mark()?;
                    let v = self.push_node(Node::List(Items::new()));
                    self.extend_list(v, &mut items)?;
                    self.stack.push(v);
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let v = self.push_node(Node::Dict(Items::new()));
                    self.set_items(v, &items)?;
                    self.stack.push(v);
                }
                b't' => {
                    let items = self.pop_mark()?;
                    let mut items = items;
                    for it in items.iter_mut() {
                        *it = self.absorb(*it)?;
                    }
                    let v = self.push_node(Node::Tuple(Items::from_vec(items)));
                    self.stack.push(v);
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    let v = self.push_node(Node::Set(Items::from_vec(items)));
                    self.stack.push(v);
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < self.floor + n {
                        return Err(self.malformed("TUPLEn needs more values than the stack has"));
                    }
                    let mut items = self.stack.split_off(self.stack.len() - n);
                    for it in items.iter_mut() {
                        *it = self.absorb(*it)?;
                    }
                    let v = self.push_node(Node::Tuple(Items::from_vec(items)));
                    self.stack.push(v);
                }
                b'a' => {
                    let item = self.pop()?;
                    let list = self.top()?;
                    self.extend_list(list, &mut [item])?;
                }
                b'e' | 0x90 => {
                    let m = self.close_mark("APPENDS without a MARK")?;
                    let list = self.below_mark(m)?;
                    if self.try_stack_from_appends(list, m)? {
                        continue;
                    }
                    let mut items = std::mem::take(&mut self.spare);
                    items.clear();
                    items.extend(self.stack.drain(m..));
                    self.extend_list(list, &mut items)?;
                    self.spare = items;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let d = self.top()?;
                    self.set_items(d, &[k, v])?;
                }
                b'u' => {
                    let m = self.close_mark("SETITEMS without a MARK")?;
                    let d = self.below_mark(m)?;
                    if !self.try_event_from_setitems(d, m)? {
                        let mut items = std::mem::take(&mut self.spare);
                        items.clear();
                        items.extend(self.stack.drain(m..));
                        self.set_items(d, &items)?;
                        self.spare = items;
                    }
                }
                0x94 => {
                    let v = self.top()?;
                    self.memo.push(v);
                }
                b'q' => {
                    let idx = self.input.u8("a BINPUT index")? as usize;
                    let v = self.top()?;
                    self.memo_put(idx, v)?;
                }
                b'r' => {
                    let idx = self.input.u32("a LONG_BINPUT index")? as usize;
                    let v = self.top()?;
                    self.memo_put(idx, v)?;
                }
                b'p' => {
                    let line = self.input.line("a PUT index")?.to_vec();
                    let idx = parse_index(&line)
                        .ok_or_else(|| self.malformed("PUT index is not a number"))?;
                    let v = self.top()?;
                    self.memo_put(idx, v)?;
                }
                b'h' | b'j' => {
                    // Memo reads come in runs (a frame list is a dozen of them in a row): the
                    // run is read here, so that the loop's dispatch jump, which the CPU
                    // mispredicts often, is taken once per run rather than once per read.
                    let mut op = op;
                    loop {
                        let idx = if op == b'h' {
                            self.input.u8("a BINGET index")? as usize
                        } else {
                            self.input.u32("a LONG_BINGET index")? as usize
                        };
                        let v = self.memo_get(idx)?;
                        self.stack.push(v);
                        match self.input.peek_fast() {
                            Some(next @ (b'h' | b'j')) => {
                                self.input.skip(1);
                                op = next;
                            }
                            _ => break,
                        }
                    }
                }
                b'g' => {
                    let line = self.input.line("a GET index")?.to_vec();
                    let idx = parse_index(&line)
                        .ok_or_else(|| self.malformed("GET index is not a number"))?;
                    let v = self.memo_get(idx)?;
                    self.stack.push(v);
                }
                other => {
                    let op_offset = self.input.offset() - 1;
                    if let Some(name) = forbidden_name(other) {
                        return Err(ReadError::Forbidden {
                            offset: op_offset,
                            name,
                        });
                    }
                    return Err(ReadError::UnsupportedOpcode {
                        offset: op_offset,
                        code: other,
                    });
                }
            }
        }
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

fn parse_index(line: &[u8]) -> Option<usize> {
    std::str::from_utf8(line).ok()?.trim().parse().ok()
}

/// Decodes Python's raw-unicode-escape (protocol 0 `UNICODE`): `\uXXXX` and `\UXXXXXXXX`
/// escapes, every other byte is Latin-1.
fn raw_unicode_escape(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && i + 1 < raw.len() && (raw[i + 1] == b'u' || raw[i + 1] == b'U') {
            let n = if raw[i + 1] == b'u' { 4 } else { 8 };
            if let Some(hex) = raw.get(i + 2..i + 2 + n) {
                if let Some(c) = std::str::from_utf8(hex)
                    .ok()
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32)
                {
                    out.push(c);
                    i += 2 + n;
                    continue;
                }
            }
        }
        out.push(raw[i] as char);
        i += 1;
    }
    out
}

/// Decodes a quoted Python 2 string literal (protocol 0 `STRING`).
fn python_string_literal(line: &[u8]) -> Option<Vec<u8>> {
    let q = *line.first()?;
    if (q != b'\'' && q != b'"') || line.len() < 2 || *line.last()? != q {
        return None;
    }
    let body = &line[1..line.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b != b'\\' || i + 1 >= body.len() {
            out.push(b);
            i += 1;
            continue;
        }
        let e = body[i + 1];
        i += 2;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'\\' => out.push(b'\\'),
            b'\'' => out.push(b'\''),
            b'"' => out.push(b'"'),
            b'x' => {
                let hex = std::str::from_utf8(body.get(i..i + 2)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b'0'..=b'7' => {
                let mut v = (e - b'0') as u32;
                let mut k = 0;
                while k < 2 && i < body.len() && (b'0'..=b'7').contains(&body[i]) {
                    v = v * 8 + (body[i] - b'0') as u32;
                    i += 1;
                    k += 1;
                }
                out.push(v as u8);
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Some(out)
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
