//! Reader errors: each says what is wrong and, where it applies, the byte offset in the
//! (decompressed) pickle stream.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("read error at byte {offset}: {source}")]
    Stream {
        offset: u64,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{format} decompression failed near byte {offset} of the decompressed data: {message}"
    )]
    Decompress {
        format: &'static str,
        offset: u64,
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
