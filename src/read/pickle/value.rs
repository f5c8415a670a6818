//! How the machine holds values: [`Packed`] words on its stack, in the memo and in
//! containers, decoded on demand into [`Value`]s; containers as [`Node`]s in an arena, so that
//! memo references share them instead of copying.

use crate::model::{FrameId, StackId, StrId};

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
/// 4-bit tag over a 60-bit payload. [`super::Machine::val`] decodes it into a [`Value`].
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
    pub(super) const SHIFT: u32 = 60;
    const PAYLOAD: u64 = (1 << Self::SHIFT) - 1;
    pub(super) const T_NONE: u64 = 1;
    pub(super) const T_BOOL: u64 = 2;
    pub(super) const T_INT: u64 = 3;
    pub(super) const T_STR: u64 = 4;
    pub(super) const T_BIGINT: u64 = 5;
    pub(super) const T_BYTES: u64 = 6;
    pub(super) const T_NODE: u64 = 7;
    pub(super) const T_EVENT: u64 = 8;
    /// An int or float in [`Machine::wide`].
    pub(super) const T_WIDE: u64 = 9;

    /// A memo slot never written (tag 0).
    pub const UNSET: Packed = Packed(0);
    pub const NONE: Packed = Packed::new(Self::T_NONE, 0);

    #[inline(always)]
    pub(super) const fn new(tag: u64, payload: u64) -> Packed {
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
    pub(super) fn small_int(i: i64) -> Option<Packed> {
        const LIMIT: i64 = 1 << (Packed::SHIFT - 1);
        (-LIMIT..LIMIT)
            .contains(&i)
            .then_some(Packed::new(Self::T_INT, i as u64 & Self::PAYLOAD))
    }

    #[inline(always)]
    pub(super) fn tag(self) -> u64 {
        self.0 >> Self::SHIFT
    }

    #[inline(always)]
    pub(super) fn id(self) -> u32 {
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
    pub(super) fn as_small_int(self) -> Option<i64> {
        (self.tag() == Self::T_INT).then_some(self.int_payload())
    }

    /// The payload read as a sign-extended 60-bit integer.
    #[inline(always)]
    pub(super) fn int_payload(self) -> i64 {
        const SPARE: u32 = 64 - Packed::SHIFT;
        ((self.0 << SPARE) as i64) >> SPARE
    }
}

/// The items of a container node: nothing allocated while empty, one pointer otherwise.
///
/// Why: a real snapshot has one node per trace entry and per frame list (600k+ in a 1M-event
/// trace), nearly all created empty and reduced to an event or a stack before they hold
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
