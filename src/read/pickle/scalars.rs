//! The scalar opcode families: integers, floats, strings and bytes. Each opcode is one
//! function, called from the loop in [`super::run`]; the hot ones are inlined into it.

use super::super::error::{ReadError, Result};
use super::opcodes::Width;
use super::text::{decimal_to_le_bytes, python_string_literal, raw_unicode_escape};
use super::value::{Packed, Value};
use super::Machine;

impl Machine<'_, '_> {
    /// Pushes an integer (packed inline when it fits, as nearly all do).
    #[inline(always)]
    fn push_int(&mut self, i: i64) -> Result<()> {
        let p = self.int(i);
        self.stack.push(p);
        Ok(())
    }

    /// Pushes any decoded value.
    #[inline(always)]
    fn push_value(&mut self, v: Value) -> Result<()> {
        let p = self.pack(v);
        self.stack.push(p);
        Ok(())
    }

    // Integers.

    #[inline(always)]
    pub(super) fn binint(&mut self) -> Result<()> {
        let v = self.input.u32("a BININT")? as i32;
        self.push_int(v as i64)
    }

    #[inline(always)]
    pub(super) fn binint1(&mut self) -> Result<()> {
        let v = self.input.u8("a BININT1")?;
        self.push_int(v as i64)
    }

    #[inline(always)]
    pub(super) fn binint2(&mut self) -> Result<()> {
        let v = self.input.u16("a BININT2")?;
        self.push_int(v as i64)
    }

    #[inline(always)]
    pub(super) fn long1(&mut self) -> Result<()> {
        // Fast path: length byte and up to 8 bytes of integer in one wide load, sign-extended
        // with shifts.
        if let Some(w) = self.input.peek16() {
            let n = w[0] as usize;
            if (1..=8).contains(&n) {
                let mut a = [0u8; 8];
                a.copy_from_slice(&w[1..9]);
                let shift = 64 - 8 * n as u32;
                let i = (i64::from_le_bytes(a) << shift) >> shift;
                self.input.skip(1 + n);
                return self.push_int(i);
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
        self.push_value(v)
    }

    #[inline(never)]
    pub(super) fn long4(&mut self) -> Result<()> {
        let n = self.input.u32("a LONG4 length")? as usize;
        if n > 1 << 16 {
            return Err(ReadError::Limit {
                offset: self.input.offset() - 5,
                what: format!("a {n}-byte integer"),
            });
        }
        let raw = self.input.take(n, "a LONG4")?.to_vec();
        let v = self.long_from_bytes(&raw);
        self.push_value(v)
    }

    /// INT: decimal text, or `01`/`00` for True/False (protocol 0 has no bool opcode).
    #[inline(never)]
    pub(super) fn int_text(&mut self) -> Result<()> {
        let line = self.input.line("an INT")?.to_vec();
        let v = match line.as_slice() {
            b"01" => Value::Bool(true),
            b"00" => Value::Bool(false),
            _ => self.decimal_int(&line, "INT")?,
        };
        self.push_value(v)
    }

    #[inline(never)]
    pub(super) fn long_text(&mut self) -> Result<()> {
        let line = self.input.line("a LONG")?.to_vec();
        let v = self.decimal_int(&line, "LONG")?;
        self.push_value(v)
    }

    /// A little-endian two's complement integer (LONG1/LONG4).
    fn long_from_bytes(&mut self, raw: &[u8]) -> Value {
        let Some(&last) = raw.last() else {
            return Value::Int(0);
        };
        // Trim redundant sign bytes, then fit in i64 when possible.
        let neg = last & 0x80 != 0;
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
            self.charge(len);
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
        // Larger than i64.
        match decimal_to_le_bytes(t) {
            Some(raw) => Ok(self.long_from_bytes(&raw)),
            None => Err(self.malformed(format!("{what}: {t:?} is not an integer"))),
        }
    }

    // Floats.

    #[inline(never)]
    pub(super) fn binfloat(&mut self) -> Result<()> {
        let raw = self.input.take(8, "a BINFLOAT")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(raw);
        self.push_value(Value::Float(f64::from_be_bytes(a)))
    }

    #[inline(never)]
    pub(super) fn float_text(&mut self) -> Result<()> {
        let line = self.input.line("a FLOAT")?;
        let f = std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok());
        match f {
            Some(f) => self.push_value(Value::Float(f)),
            None => Err(self.malformed("FLOAT is not a number")),
        }
    }

    // Strings: every one is interned, so equal strings are one id.

    #[inline(always)]
    pub(super) fn short_binunicode(&mut self) -> Result<()> {
        // Fast path: a short string already in the cache, found with one wide load.
        if let Some(w) = self.input.peek16() {
            let n = w[0] as usize;
            if n < 16 {
                let key = u128::from_le_bytes(w) >> 8;
                let key = key & ((1u128 << (8 * n)) - 1);
                if let Some(id) = self.short.get_key(key, n) {
                    self.input.skip(1 + n);
                    self.stack.push(Packed::str(id));
                    return Ok(());
                }
            }
        }
        let n = self.input.u8("a SHORT_BINUNICODE length")? as usize;
        self.push_str(n)
    }

    /// BINUNICODE and BINUNICODE8: a string too long for SHORT_BINUNICODE.
    #[inline(never)]
    pub(super) fn binunicode(&mut self, width: Width) -> Result<()> {
        let n = self.length(width, "a string")?;
        self.push_str(n)
    }

    #[inline(never)]
    pub(super) fn unicode_text(&mut self) -> Result<()> {
        let line = self.input.line("a UNICODE")?.to_vec();
        let s = raw_unicode_escape(&line);
        let v = self.intern_new(&s);
        self.stack.push(v);
        Ok(())
    }

    #[inline(never)]
    pub(super) fn string_text(&mut self) -> Result<()> {
        let line = self.input.line("a STRING")?.to_vec();
        let raw = python_string_literal(&line)
            .ok_or_else(|| self.malformed("STRING is not a quoted string"))?;
        let v = self.intern_latin1(&raw);
        self.stack.push(v);
        Ok(())
    }

    #[inline(never)]
    pub(super) fn short_binstring(&mut self) -> Result<()> {
        let n = self.input.u8("a SHORT_BINSTRING length")? as usize;
        self.binstring_of(n, "a SHORT_BINSTRING")
    }

    #[inline(never)]
    pub(super) fn binstring(&mut self) -> Result<()> {
        let n = self.input.u32("a BINSTRING length")? as usize;
        self.binstring_of(n, "a BINSTRING")
    }

    fn binstring_of(&mut self, n: usize, what: &'static str) -> Result<()> {
        let raw = self.input.take(n, what)?.to_vec();
        let v = self.intern_latin1(&raw);
        self.stack.push(v);
        Ok(())
    }

    /// A Python 2 `str`: its bytes taken as Latin-1, as Python 3's `pickle.load` does by
    /// default.
    fn intern_latin1(&mut self, raw: &[u8]) -> Packed {
        let s: String = raw.iter().map(|&b| b as char).collect();
        self.intern_new(&s)
    }

    /// Interns `s`, charging its bytes to the budget when it is new.
    pub(super) fn intern_new(&mut self, s: &str) -> Packed {
        let known = self.frames.strings.len();
        let id = self.frames.strings.intern(s);
        if self.frames.strings.len() > known {
            self.charge(s.len());
        }
        Packed::str(id)
    }

    /// Reads a string of `n` bytes and pushes it.
    #[inline]
    fn push_str(&mut self, n: usize) -> Result<()> {
        let v = self.read_str(n)?;
        self.stack.push(v);
        Ok(())
    }

    /// Reads a UTF-8 string of `n` bytes straight from the window and interns it.
    #[inline]
    fn read_str(&mut self, n: usize) -> Result<Packed> {
        let raw = self.input.take(n, "a string")?;
        if let Some(id) = self.short.get(raw) {
            return Ok(Packed::str(id));
        }
        let known = self.frames.strings.len();
        let id = match std::str::from_utf8(raw) {
            Ok(s) => self.frames.strings.intern(s),
            Err(_) => {
                let s = String::from_utf8_lossy(raw).into_owned();
                return Ok(self.intern_new(&s));
            }
        };
        if self.frames.strings.len() > known {
            // The field, not `charge`: `raw` still borrows the input window.
            self.charged += n as u64;
        }
        self.short.put(raw, id);
        Ok(Packed::str(id))
    }

    // Bytes.

    /// SHORT_BINBYTES, BINBYTES, BINBYTES8 and BYTEARRAY8 (a bytearray is kept as bytes).
    #[inline(never)]
    pub(super) fn binbytes(&mut self, width: Width) -> Result<()> {
        let n = self.length(width, "a bytes object")?;
        self.push_bytes(n)
    }

    /// The length of `what` in the `width` bytes after its opcode. An 8-byte length must be
    /// one this machine can address (the opcode and the length come before the offset it
    /// reports).
    fn length(&mut self, width: Width, what: &str) -> Result<usize> {
        let n = match width {
            Width::One => return Ok(self.input.u8("a 1-byte length")? as usize),
            Width::Four => return Ok(self.input.u32("a 4-byte length")? as usize),
            Width::Eight => self.input.u64("an 8-byte length")?,
        };
        usize::try_from(n).map_err(|_| ReadError::Limit {
            offset: self.input.offset() - 9,
            what: format!("{what} of {n} bytes"),
        })
    }

    fn push_bytes(&mut self, n: usize) -> Result<()> {
        let raw = self.input.take(n, "a bytes object")?.to_vec();
        self.bytes.push(raw);
        self.charge(n);
        let p = Packed::new(Packed::T_BYTES, self.bytes.len() as u64 - 1);
        self.stack.push(p);
        Ok(())
    }
}
