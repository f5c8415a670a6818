//! The opcode loop, and the opcodes of the stack, marks, containers and memo families, one
//! function each (numbers, strings and bytes are in [`super::scalars`]).
//!
//! Why a flat `match` of one-line arms over named constants: it compiles to one jump table,
//! as the bare bytes did, and the functions it calls for frequent opcodes are inlined into it
//! (`#[inline(always)]`), so the split costs no extra dispatch; rare opcodes stay out of line
//! so that the loop stays small. Measured with `cargo bench --bench load` (BENCHMARKS.md).

use super::super::error::{ReadError, Result};
use super::opcodes::{self as op, can_start, forbidden_name, Width};
use super::text::parse_index;
use super::value::{Items, Node, Packed, Value};
use super::Machine;

/// Opcodes between two progress reports and budget checks, minus one (a power of two): about
/// a millisecond, and at most a few MiB of values that each opcode can add.
const TICK_MASK: u32 = 0xffff;

impl Machine<'_, '_> {
    /// Runs the machine to STOP and returns the root value.
    pub fn run(&mut self) -> Result<Value> {
        self.check_start()?;
        let mut ops: u32 = 0;
        loop {
            // Error paths work out the opcode's offset from the bytes its arguments took, so
            // that the loop does not track it for every opcode.
            let code = match self.input.next_fast() {
                Some(b) => b,
                None => self.next_op_slow()?,
            };
            ops = ops.wrapping_add(1);
            if ops & TICK_MASK == 0 {
                self.tick()?;
            }
            match code {
                op::STOP => return self.stop(),
                op::PROTO => self.proto()?,
                op::FRAME => self.frame()?,
                op::MARK => self.push_mark(),
                op::POP => self.pop_op()?,
                op::POP_MARK => self.pop_mark_op()?,
                op::DUP => self.dup()?,
                op::NONE => self.stack.push(Packed::NONE),
                op::NEWTRUE => self.stack.push(Packed::bool(true)),
                op::NEWFALSE => self.stack.push(Packed::bool(false)),
                op::BININT => self.binint()?,
                op::BININT1 => self.binint1()?,
                op::BININT2 => self.binint2()?,
                op::LONG1 => self.long1()?,
                op::LONG4 => self.long4()?,
                op::INT => self.int_text()?,
                op::LONG => self.long_text()?,
                op::BINFLOAT => self.binfloat()?,
                op::FLOAT => self.float_text()?,
                op::SHORT_BINUNICODE => self.short_binunicode()?,
                op::BINUNICODE => self.binunicode(Width::Four)?,
                op::BINUNICODE8 => self.binunicode(Width::Eight)?,
                op::UNICODE => self.unicode_text()?,
                op::STRING => self.string_text()?,
                op::SHORT_BINSTRING => self.short_binstring()?,
                op::BINSTRING => self.binstring()?,
                op::SHORT_BINBYTES => self.binbytes(Width::One)?,
                op::BINBYTES => self.binbytes(Width::Four)?,
                op::BINBYTES8 | op::BYTEARRAY8 => self.binbytes(Width::Eight)?,
                op::EMPTY_LIST => self.push_empty(Node::List(Items::new())),
                op::EMPTY_DICT => self.push_empty(Node::Dict(Items::new())),
                op::EMPTY_TUPLE => self.push_empty(Node::Tuple(Items::new())),
                op::EMPTY_SET => self.push_empty(Node::Set(Items::new())),
                op::LIST => self.list()?,
                op::DICT => self.dict()?,
                op::TUPLE => self.tuple()?,
                op::TUPLE1 => self.tuple_n(1)?,
                op::TUPLE2 => self.tuple_n(2)?,
                op::TUPLE3 => self.tuple_n(3)?,
                op::FROZENSET => self.frozenset()?,
                op::APPEND => self.append()?,
                op::APPENDS | op::ADDITEMS => self.appends()?,
                op::SETITEM => self.setitem()?,
                op::SETITEMS => self.setitems()?,
                op::MEMOIZE => self.memoize()?,
                op::BINPUT => self.binput()?,
                op::LONG_BINPUT => self.long_binput()?,
                op::PUT => self.put_text()?,
                op::BINGET | op::LONG_BINGET => self.get_run(code)?,
                op::GET => self.get_text()?,
                other => return Err(self.refused(other)),
            }
        }
    }

    /// Whether the first byte can start a pickle (checked before anything is parsed, so that
    /// another kind of file is named as such rather than as a malformed pickle).
    fn check_start(&mut self) -> Result<()> {
        let Some(first) = self.input.peek_byte()? else {
            return Err(ReadError::NotPickle {
                offset: 0,
                what: "the file is empty".into(),
            });
        };
        if can_start(first) {
            return Ok(());
        }
        Err(ReadError::NotPickle {
            offset: 0,
            what: format!("it starts with byte 0x{first:02x}, which no pickle starts with"),
        })
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

    /// An opcode the machine does not run: refused by design, or unknown.
    #[cold]
    #[inline(never)]
    fn refused(&self, code: u8) -> ReadError {
        let offset = self.input.offset() - 1;
        match forbidden_name(code) {
            Some(name) => ReadError::Forbidden { offset, name },
            None => ReadError::UnsupportedOpcode { offset, code },
        }
    }

    // The stream and the stack.

    fn stop(&mut self) -> Result<Value> {
        let v = self.pop()?;
        let v = self.absorb(v)?;
        if self.protocol.is_none() {
            self.protocol = Some(0);
        }
        Ok(self.val(v))
    }

    #[inline(never)]
    fn proto(&mut self) -> Result<()> {
        let p = self.input.u8("the protocol number")?;
        if p > 5 {
            return Err(self.malformed(format!("unknown pickle protocol {p}")));
        }
        // Only a PROTO at the very start of the stream says the protocol.
        if self.input.offset() == 2 {
            self.protocol = Some(p);
        }
        Ok(())
    }

    /// FRAME: a length hint only.
    #[inline(always)]
    fn frame(&mut self) -> Result<()> {
        self.input.u64("a FRAME length")?;
        Ok(())
    }

    #[inline(always)]
    fn pop_op(&mut self) -> Result<()> {
        if !self.marks.is_empty() && self.floor == self.stack.len() {
            self.close_mark("POP of a MARK")?;
        } else {
            self.pop()?;
        }
        Ok(())
    }

    #[inline(never)]
    fn pop_mark_op(&mut self) -> Result<()> {
        self.pop_mark()?;
        Ok(())
    }

    #[inline(always)]
    fn dup(&mut self) -> Result<()> {
        let v = self.top()?;
        self.stack.push(v);
        Ok(())
    }

    // Containers.

    #[inline(always)]
    fn push_empty(&mut self, node: Node) {
        let v = self.push_node(node);
        self.stack.push(v);
    }

    #[inline(never)]
    fn list(&mut self) -> Result<()> {
        let mut items = self.pop_mark()?;
        let v = self.push_node(Node::List(Items::new()));
        self.extend_list(v, &mut items)?;
        self.stack.push(v);
        Ok(())
    }

    #[inline(never)]
    fn dict(&mut self) -> Result<()> {
        let items = self.pop_mark()?;
        let v = self.push_node(Node::Dict(Items::new()));
        self.set_items(v, &items)?;
        self.stack.push(v);
        Ok(())
    }

    #[inline(never)]
    fn tuple(&mut self) -> Result<()> {
        let items = self.pop_mark()?;
        self.push_tuple(items)
    }

    #[inline(always)]
    fn tuple_n(&mut self, n: usize) -> Result<()> {
        if self.stack.len() < self.floor + n {
            return Err(self.malformed("TUPLEn needs more values than the stack has"));
        }
        let items = self.stack.split_off(self.stack.len() - n);
        self.push_tuple(items)
    }

    fn push_tuple(&mut self, mut items: Vec<Packed>) -> Result<()> {
        for it in items.iter_mut() {
            *it = self.absorb(*it)?;
        }
        self.charge(items.len() * size_of::<Packed>());
        let v = self.push_node(Node::Tuple(Items::from_vec(items)));
        self.stack.push(v);
        Ok(())
    }

    #[inline(never)]
    fn frozenset(&mut self) -> Result<()> {
        let items = self.pop_mark()?;
        self.charge(items.len() * size_of::<Packed>());
        let v = self.push_node(Node::Set(Items::from_vec(items)));
        self.stack.push(v);
        Ok(())
    }

    #[inline(always)]
    fn append(&mut self) -> Result<()> {
        let item = self.pop()?;
        let list = self.top()?;
        self.extend_list(list, &mut [item])
    }

    /// APPENDS and ADDITEMS.
    #[inline(always)]
    fn appends(&mut self) -> Result<()> {
        let m = self.close_mark("APPENDS without a MARK")?;
        let list = self.below_mark(m)?;
        if self.try_stack_from_appends(list, m)? {
            return Ok(());
        }
        let mut items = std::mem::take(&mut self.spare);
        items.clear();
        items.extend(self.stack.drain(m..));
        let done = self.extend_list(list, &mut items);
        self.spare = items;
        done
    }

    #[inline(always)]
    fn setitem(&mut self) -> Result<()> {
        let v = self.pop()?;
        let k = self.pop()?;
        let d = self.top()?;
        self.set_items(d, &[k, v])
    }

    #[inline(always)]
    fn setitems(&mut self) -> Result<()> {
        let m = self.close_mark("SETITEMS without a MARK")?;
        let d = self.below_mark(m)?;
        if self.try_event_from_setitems(d, m)? {
            return Ok(());
        }
        let mut items = std::mem::take(&mut self.spare);
        items.clear();
        items.extend(self.stack.drain(m..));
        let done = self.set_items(d, &items);
        self.spare = items;
        done
    }

    // The memo.

    #[inline(always)]
    fn memoize(&mut self) -> Result<()> {
        let v = self.top()?;
        self.memo.push(v);
        Ok(())
    }

    #[inline(always)]
    fn binput(&mut self) -> Result<()> {
        let idx = self.input.u8("a BINPUT index")? as usize;
        let v = self.top()?;
        self.memo_put(idx, v)
    }

    #[inline(always)]
    fn long_binput(&mut self) -> Result<()> {
        let idx = self.input.u32("a LONG_BINPUT index")? as usize;
        let v = self.top()?;
        self.memo_put(idx, v)
    }

    #[inline(never)]
    fn put_text(&mut self) -> Result<()> {
        let line = self.input.line("a PUT index")?.to_vec();
        let idx = parse_index(&line).ok_or_else(|| self.malformed("PUT index is not a number"))?;
        let v = self.top()?;
        self.memo_put(idx, v)
    }

    /// BINGET and LONG_BINGET, with the run of them that follows.
    ///
    /// Why runs: memo reads come in runs (a frame list is a dozen of them in a row); reading
    /// the run here means the loop's dispatch jump, which the CPU mispredicts often, is taken
    /// once per run rather than once per read.
    #[inline(always)]
    fn get_run(&mut self, first: u8) -> Result<()> {
        let mut code = first;
        loop {
            let idx = if code == op::BINGET {
                self.input.u8("a BINGET index")? as usize
            } else {
                self.input.u32("a LONG_BINGET index")? as usize
            };
            let v = self.memo_get(idx)?;
            self.stack.push(v);
            match self.input.peek_fast() {
                Some(next @ (op::BINGET | op::LONG_BINGET)) => {
                    self.input.skip(1);
                    code = next;
                }
                _ => return Ok(()),
            }
        }
    }

    #[inline(never)]
    fn get_text(&mut self) -> Result<()> {
        let line = self.input.line("a GET index")?.to_vec();
        let idx = parse_index(&line).ok_or_else(|| self.malformed("GET index is not a number"))?;
        let v = self.memo_get(idx)?;
        self.stack.push(v);
        Ok(())
    }
}
