//! Reader errors: each says what is wrong and, where it applies, the byte offset in the
//! (decompressed) pickle stream.
//!
//! An underlying OS error is written into the message and not also returned as the error's
//! `source()`: a reporter that prints the chain of causes (anyhow's `{:#}`, which `memsight`
//! uses) would otherwise print its text twice.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    #[error("read error at byte {offset}: {error}")]
    Stream { offset: u64, error: std::io::Error },

    /// Corrupt compressed data. `offset` is how much had been decompressed (the position in
    /// the pickle stream, as for other errors); `compressed` how much of the file had been read
    /// when the decompressor failed, so the fault lies within those first bytes.
    #[error(
        "{format} decompression failed within the first {compressed} bytes of the file \
         ({offset} bytes decompressed before it): {message}"
    )]
    Decompress {
        format: &'static str,
        offset: u64,
        compressed: u64,
        message: String,
    },

    #[error("not a pickle: {what} (at byte {offset})")]
    NotPickle { offset: u64, what: String },

    #[error("truncated pickle: the data ends at byte {offset} while reading {what}")]
    Truncated { offset: u64, what: &'static str },

    #[error("unsupported pickle opcode 0x{code:02x} at byte {offset}")]
    UnsupportedOpcode { offset: u64, code: u8 },

    #[error(
        "refused pickle opcode {name} at byte {offset}: a memory snapshot holds only plain data, \
         and memsight never imports or calls anything a pickle names"
    )]
    Forbidden { offset: u64, name: &'static str },

    #[error("malformed pickle at byte {offset}: {what}")]
    Malformed { offset: u64, what: String },

    #[error("pickle exceeds a safety limit at byte {offset}: {what}")]
    Limit { offset: u64, what: String },

    #[error("not a PyTorch memory snapshot: {what}")]
    NotASnapshot { what: String },

    #[error("loading was cancelled")]
    Cancelled,
}

impl ReadError {
    /// The byte offset the error refers to, when it has one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            ReadError::Stream { offset, .. }
            | ReadError::Decompress { offset, .. }
            | ReadError::NotPickle { offset, .. }
            | ReadError::Truncated { offset, .. }
            | ReadError::UnsupportedOpcode { offset, .. }
            | ReadError::Forbidden { offset, .. }
            | ReadError::Malformed { offset, .. }
            | ReadError::Limit { offset, .. } => Some(*offset),
            _ => None,
        }
    }
}

pub type Result<T, E = ReadError> = std::result::Result<T, E>;
