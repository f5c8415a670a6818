//! Snapshot decoding inside the machine: the reductions that turn a trace entry dict into a
//! typed [`Event`], a frame dict into an interned [`Frame`] and a list of frames into an
//! interned stack, as soon as each is complete, so that a million-event trace never exists
//! as a tree of generic values. The generic machine calls in here from APPENDS, SETITEMS and
//! wherever a container is completed ([`Machine::absorb`]); nothing else in the machine knows
//! what a snapshot is.

use crate::model::{Action, Event, Frame, FrameId, StackId, StrId};

use super::super::error::Result;
use super::keys::Field;
use super::value::{Items, Node, Packed, Value};
use super::Machine;

/// Longest frame list interned batch by batch as it arrives (see `try_stack_from_appends`).
const MAX_INCREMENTAL_STACK: usize = 4096;

impl Machine<'_, '_> {
    /// APPENDS of frames into an empty list (or a list already reduced to a stack, for lists
    /// pickled in several batches) interns the stack straight from the machine's stack, without
    /// materialising the list. Returns whether it did.
    pub(super) fn try_stack_from_appends(&mut self, target: Packed, mark: usize) -> Result<bool> {
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
            let known = self.stacks.len();
            let sid = self.stacks.intern(&scratch);
            if self.stacks.len() > known {
                self.charge(scratch.len() * size_of::<FrameId>());
            }
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
    pub(super) fn try_event_from_setitems(&mut self, target: Packed, mark: usize) -> Result<bool> {
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

    /// Turns a completed event dict into a typed event (other values pass through).
    pub(super) fn absorb(&mut self, v: Packed) -> Result<Packed> {
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
        let mut ev = Event::new(Action::Other(0));
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
        self.charge(name.len());
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
        match self.intern_new(&text).as_str() {
            Some(id) => Ok(id),
            None => Ok(0),
        }
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
        let known = self.stacks.len();
        let sid = self.stacks.intern(&scratch);
        if self.stacks.len() > known {
            self.charge(scratch.len() * size_of::<FrameId>());
        }
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
}
