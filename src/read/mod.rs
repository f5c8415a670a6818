//! Reading: bytes on disk (plain or gzip/zstd/xz-compressed pickle) to a typed [`Snapshot`].
//!
//! ```no_run
//! let snap = memsight::read::load_path("snap.pickle".as_ref(), &Default::default())?;
//! println!("{} devices", snap.devices.len());
//! # Ok::<(), memsight::read::ReadError>(())
//! ```

mod build;
mod error;
mod input;
mod pickle;

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

pub use error::{ReadError, Result};
pub use input::Compression;

use crate::model::Snapshot;

/// Options for loading.
#[derive(Default, Clone)]
pub struct LoadOptions {
    /// Called now and then with (bytes of the file consumed, file size); return `false` to
    /// cancel. For compressed input the figures are compressed bytes.
    pub progress: Option<Arc<dyn Fn(u64, u64) -> bool + Send + Sync>>,
}

/// Loads a snapshot from a file (compression detected from its first bytes).
///
/// Only regular files are read: a FIFO, a device or a directory is refused with what it is.
/// The file is opened without blocking (a FIFO with no writer would otherwise hang `open`)
/// and checked before anything is read from it.
pub fn load_path(path: &Path, opts: &LoadOptions) -> Result<Snapshot> {
    let io = |error| ReadError::Io {
        path: path.to_path_buf(),
        error,
    };
    let file = open_regular(path).map_err(io)?;
    let total = file.metadata().map_err(io)?.len();
    if total == 0 {
        return Err(ReadError::NotPickle {
            offset: 0,
            what: "the file is empty".into(),
        });
    }
    load_reader(file, total, opts)
}

/// Opens `path` for reading if it is a regular file; otherwise says what it is.
fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Opening a FIFO for reading blocks until a writer opens it; with O_NONBLOCK it
        // returns at once, and the check below refuses it. O_NONBLOCK means nothing for the
        // regular files that pass the check.
        options.custom_flags(libc::O_NONBLOCK);
    }
    #[cfg(not(target_os = "linux"))]
    {
        // Without O_NONBLOCK, look before opening.
        not_regular(&std::fs::metadata(path)?)?;
    }
    let file = options.open(path)?;
    not_regular(&file.metadata()?)?;
    Ok(file)
}

/// An error naming the kind of file, unless `meta` is a regular file's.
fn not_regular(meta: &std::fs::Metadata) -> std::io::Result<()> {
    let t = meta.file_type();
    if t.is_file() {
        return Ok(());
    }
    let kind = if t.is_dir() {
        "a directory"
    } else {
        special_kind(&t)
    };
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("it is {kind}, not a regular file"),
    ))
}

#[cfg(unix)]
fn special_kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::FileType) -> &'static str {
    "a special file"
}

/// Loads a snapshot from bytes in memory (compression detected from the first bytes).
pub fn load_bytes(bytes: &[u8], opts: &LoadOptions) -> Result<Snapshot> {
    load_reader(bytes, bytes.len() as u64, opts)
}

/// Loads a snapshot from any reader; `total` is its length for progress reports.
pub fn load_reader<R: Read>(reader: R, total: u64, opts: &LoadOptions) -> Result<Snapshot> {
    let input = input::Input::new(Box::new(std::io::BufReader::with_capacity(1 << 16, reader)))?;
    let progress_cb = opts.progress.clone();
    let tick = move |raw_read: u64| -> bool {
        match &progress_cb {
            Some(p) => p(raw_read, total),
            None => true,
        }
    };
    let mut machine = pickle::Machine::new(input, Some(&tick));
    let root = machine.run()?;
    if machine.trailing_data()? {
        return Err(ReadError::Malformed {
            offset: machine.offset(),
            what: "data follows the pickle's STOP opcode".into(),
        });
    }
    let pickle_bytes = machine.offset();
    machine.release_parse_state();
    build::build(machine, root, pickle_bytes)
}
