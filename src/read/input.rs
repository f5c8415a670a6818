//! Byte input for the pickle machine: a sliding window over a file or a decompressing stream.
//!
//! The window design (rather than mapping or decompressing the whole file into memory) keeps
//! the reader's own footprint to a few MiB whatever the file size, so peak memory is dominated
//! by the typed model, and compressed input needs no temporary copy. Lengths claimed by the
//! data are never trusted for allocation: the window grows only as real bytes arrive.
//!
//! Why plain files are read, not memory-mapped: a mapped file that shrinks while it is read
//! (a training job dumping a new snapshot over the one being opened) kills the process with
//! SIGBUS, where `read` gives a clean truncation error; and mapped pages count towards the
//! process's resident memory, which would put the peak at file size plus model. What mapping
//! would save is the kernel's copy into the window: 4% of the load time of big_trace
//! (`perf record`, `_copy_to_iter`; see BENCHMARKS.md).

use std::cell::Cell;
use std::io::Read;
use std::rc::Rc;

use super::error::{ReadError, Result};

const CHUNK: usize = 1 << 20;

/// Memory any input may claim, however small (see [`Input::memory_budget`]).
pub const BUDGET_FLOOR: u64 = 8 << 20;
/// Memory the data may claim per byte of the file read so far (see [`Input::memory_budget`]).
///
/// Why 1 KiB: a real snapshot takes 0.8-1.6 bytes of memory per byte of pickle, and the best
/// compression measured on one (xz of huge_trace, zstd `--ultra -22 --long` of big_trace) is
/// 23-37 bytes of pickle per byte of file: about 60 bytes of memory per byte of file, a
/// sixteenth of this. A decompression bomb reaches a thousand times its size in its first
/// megabyte, and memo references expanded without bound far more.
pub const BUDGET_PER_BYTE: u64 = 1024;

/// Compression detected from magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    Xz,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
        }
    }

    /// Recognises gzip, zstd and xz by their magic bytes.
    pub fn detect(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Some(Compression::Xz)
        } else {
            None
        }
    }
}

/// A sliding window over a byte stream, tracking the absolute offset of every byte.
pub struct Input<'r> {
    reader: Box<dyn Read + 'r>,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// Absolute offset of `buf[0]`.
    base: u64,
    eof: bool,
    compression: Option<Compression>,
    /// Bytes of the file read so far (compressed bytes for compressed input).
    raw: Rc<Cell<u64>>,
}

/// Counts the bytes a reader delivers.
struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

impl<'r> Input<'r> {
    /// Wraps `reader`, decompressing when its first bytes are a known compression magic.
    pub fn new(reader: Box<dyn Read + 'r>) -> Result<Input<'r>> {
        let raw = Rc::new(Cell::new(0));
        let mut reader: Box<dyn Read + 'r> = Box::new(Counted {
            inner: reader,
            count: raw.clone(),
        });
        let mut head = [0u8; 6];
        let n = read_full(&mut *reader, &mut head)
            .map_err(|error| ReadError::Stream { offset: 0, error })?;
        let head = &head[..n];
        let compression = Compression::detect(head);
        let chained: Box<dyn Read + 'r> =
            Box::new(std::io::Cursor::new(head.to_vec()).chain(reader));
        let reader: Box<dyn Read + 'r> = match compression {
            None => chained,
            Some(Compression::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(chained)),
            Some(Compression::Xz) => Box::new(liblzma::read::XzDecoder::new_multi_decoder(chained)),
            Some(Compression::Zstd) => {
                Box::new(zstd::stream::read::Decoder::new(chained).map_err(|e| {
                    ReadError::Decompress {
                        format: "zstd",
                        offset: 0,
                        compressed: raw.get(),
                        message: e.to_string(),
                    }
                })?)
            }
        };
        Ok(Input {
            reader,
            buf: vec![0; CHUNK],
            pos: 0,
            end: 0,
            base: 0,
            eof: false,
            compression,
            raw,
        })
    }

    pub fn compression(&self) -> Option<Compression> {
        self.compression
    }

    /// Bytes of the file read so far: compressed bytes for compressed input (an upper bound
    /// on what the decompressor consumed, as it reads ahead).
    pub fn raw_read(&self) -> u64 {
        self.raw.get()
    }

    /// The memory the data read so far may claim: [`BUDGET_FLOOR`] plus [`BUDGET_PER_BYTE`]
    /// per byte of the file read. The machine charges what it builds against it, so that a
    /// small file cannot claim gigabytes, whether through a decompression bomb or through memo
    /// references expanded into copies.
    pub fn memory_budget(&self) -> u64 {
        BUDGET_FLOOR.saturating_add(self.raw_read().saturating_mul(BUDGET_PER_BYTE))
    }

    /// Absolute offset of the next unread byte.
    #[inline]
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Makes at least `n` bytes available, or fails with `Truncated` naming `what`.
    #[inline]
    fn ensure(&mut self, n: usize, what: &'static str) -> Result<()> {
        if self.end - self.pos >= n {
            return Ok(());
        }
        self.fill(n, what)
    }

    #[cold]
    fn fill(&mut self, n: usize, what: &'static str) -> Result<()> {
        // Move the unread tail to the front.
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
        }
        while self.end < n {
            if self.eof {
                return Err(ReadError::Truncated {
                    offset: self.base + self.end as u64,
                    what,
                });
            }
            if self.end == self.buf.len() {
                // Grow only by what has really arrived, so a hostile length claim cannot make
                // us allocate more than twice the real data, and only within the budget, so
                // that one huge value decompressed from a small file cannot either.
                let new_len = (self.buf.len() * 2).min(n.max(self.buf.len() + CHUNK));
                let new_len = new_len.max(self.buf.len() + 1);
                if new_len as u64 > self.memory_budget() {
                    return Err(ReadError::Limit {
                        offset: self.base + self.end as u64,
                        what: format!(
                            "{what} needs more than {} of memory, for {} bytes of file read",
                            mib(self.memory_budget()),
                            self.raw_read()
                        ),
                    });
                }
                self.buf.resize(new_len, 0);
            }
            let got = loop {
                match self.reader.read(&mut self.buf[self.end..]) {
                    Ok(k) => break k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(self.io_error(e)),
                }
            };
            if got == 0 {
                self.eof = true;
            }
            self.end += got;
        }
        Ok(())
    }

    fn io_error(&self, e: std::io::Error) -> ReadError {
        let offset = self.base + self.end as u64;
        match self.compression {
            Some(c) => ReadError::Decompress {
                format: c.name(),
                offset,
                compressed: self.raw_read(),
                message: e.to_string(),
            },
            None => ReadError::Stream { offset, error: e },
        }
    }

    /// Reads one byte, or `None` at a clean end of data.
    #[inline]
    pub fn next_byte(&mut self) -> Result<Option<u8>> {
        let b = self.peek_byte()?;
        if b.is_some() {
            self.pos += 1;
        }
        Ok(b)
    }

    /// The next byte if the window holds one: the opcode loop's fast path, no refill.
    #[inline(always)]
    pub fn next_fast(&mut self) -> Option<u8> {
        if self.pos < self.end {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            Some(b)
        } else {
            None
        }
    }

    /// The next 16 bytes (without consuming them), when the window holds that many: lets short
    /// fields be read with one wide load and a mask instead of a variable-length copy.
    #[inline(always)]
    pub fn peek16(&self) -> Option<[u8; 16]> {
        if self.end - self.pos >= 16 {
            let s = self.buf.get(self.pos..self.pos + 16)?;
            let mut a = [0u8; 16];
            a.copy_from_slice(s);
            Some(a)
        } else {
            None
        }
    }

    /// Skips `n` bytes already seen through [`Self::peek16`].
    #[inline(always)]
    pub fn skip(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.pos);
        self.pos += n;
    }

    /// The next byte if the window holds one, without consuming it and without a refill.
    #[inline(always)]
    pub fn peek_fast(&self) -> Option<u8> {
        if self.pos < self.end {
            self.buf.get(self.pos).copied()
        } else {
            None
        }
    }

    /// The next byte without consuming it, or `None` at a clean end of data.
    #[inline]
    pub fn peek_byte(&mut self) -> Result<Option<u8>> {
        if self.pos == self.end {
            match self.fill(1, "an opcode") {
                Ok(()) => {}
                Err(ReadError::Truncated { .. }) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Ok(self.buf.get(self.pos).copied())
    }

    /// Takes exactly `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&[u8]> {
        self.ensure(n, what)?;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    #[inline]
    pub fn u16(&mut self, what: &'static str) -> Result<u16> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    #[inline]
    pub fn u32(&mut self, what: &'static str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    #[inline]
    pub fn u64(&mut self, what: &'static str) -> Result<u64> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// Takes a newline-terminated line (text opcodes of protocol 0), without the newline.
    pub fn line(&mut self, what: &'static str) -> Result<&[u8]> {
        const MAX_LINE: usize = 1 << 24;
        let mut scanned = 0;
        loop {
            if let Some(i) = self.buf[self.pos + scanned..self.end]
                .iter()
                .position(|&b| b == b'\n')
            {
                let start = self.pos;
                let nl = start + scanned + i;
                self.pos = nl + 1;
                return Ok(&self.buf[start..nl]);
            }
            scanned = self.end - self.pos;
            if scanned > MAX_LINE {
                return Err(ReadError::Limit {
                    offset: self.offset(),
                    what: format!("a text line longer than {MAX_LINE} bytes in {what}"),
                });
            }
            self.ensure(scanned + 1, what)?;
        }
    }

    /// Drops the window's buffer (the offset stays valid; reading again refills it).
    pub fn release(&mut self) {
        self.base += self.pos as u64;
        self.buf = Vec::new();
        self.pos = 0;
        self.end = 0;
    }

    /// Whether any data follows (used to reject trailing garbage after STOP).
    pub fn at_end(&mut self) -> Result<bool> {
        if self.pos < self.end {
            return Ok(false);
        }
        match self.fill(1, "trailing data") {
            Ok(()) => Ok(false),
            Err(ReadError::Truncated { .. }) => Ok(true),
            Err(e) => Err(e),
        }
    }
}

/// `bytes` in MiB, for messages.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
