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
pub fn load_path(path: &Path, opts: &LoadOptions) -> Result<Snapshot> {
    let io = |error| ReadError::Io {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let total = file.metadata().map_err(io)?.len();
    if total == 0 {
        return Err(ReadError::NotPickle {
            offset: 0,
            what: "the file is empty".into(),
        });
    }
    load_reader(file, total, opts)
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
