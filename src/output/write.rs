//! Where output goes, and what happens when it cannot get there.
//!
//! Standard output: every write is checked, so that a closed pipe (`memsight report | head`) can
//! end a command quietly and a full disk is an error instead of a panic in `println!`.
//!
//! Files: written whole or not at all. The text goes to a temporary file beside the target (same
//! directory, so the same file system), is synced, and is renamed over the target; on any error
//! the temporary file is removed and the previous file is left as it was. A target that is one
//! of the command's inputs, however it is spelled (`./x/../snap.pickle`, a hard or symbolic
//! link), is refused before anything is written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// What went wrong writing output.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write to standard output")]
    Stdout(#[source] io::Error),
    #[error("refusing to overwrite the input {}: choose another output file", input.display())]
    IsInput { input: PathBuf },
    #[error("cannot write {}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl WriteError {
    /// Standard output was a pipe whose reader has gone (`| head`): the reader has what it
    /// wanted, and a command should stop without a word.
    pub fn is_closed_pipe(&self) -> bool {
        matches!(self, WriteError::Stdout(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// Writes `text` to standard output and flushes it.
pub fn stdout(text: &str) -> Result<(), WriteError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(WriteError::Stdout)
}

/// Writes a line to standard error, for notes such as "wrote out.html": one that cannot be
/// written is dropped (the command has done its work; there is nowhere left to complain).
pub fn note(text: &str) {
    let _ = writeln!(io::stderr().lock(), "memsight: {text}");
}

/// Refuses `output` when it is the same file as one of `inputs`.
pub fn refuse_input(output: &Path, inputs: &[&Path]) -> Result<(), WriteError> {
    match inputs.iter().find(|i| same_file(output, i)) {
        Some(i) => Err(WriteError::IsInput {
            input: i.to_path_buf(),
        }),
        None => Ok(()),
    }
}

/// Whether two paths name one existing file (after following links).
fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (fs::metadata(a), fs::metadata(b)) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        ma.dev() == mb.dev() && ma.ino() == mb.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (ma, mb);
        matches!(
            (fs::canonicalize(a), fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
    }
}

/// Writes `bytes` to the file `path`, whole or not at all, unless `path` is one of `inputs`.
///
/// A symbolic link is followed: the file it points to is replaced and the link stays. The
/// previous file's permissions are kept. A target that is not a regular file or a directory
/// (`/dev/stdout`, a named pipe) cannot be replaced by a rename and is written in place.
pub fn file(path: &Path, bytes: &[u8], inputs: &[&Path]) -> Result<(), WriteError> {
    refuse_input(path, inputs)?;
    let err = |source| WriteError::File {
        path: path.to_path_buf(),
        source,
    };
    let target = match fs::symlink_metadata(path) {
        // A link to a file that is not there yet: create that file, as a plain write would.
        Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(path) {
            Ok(p) => p,
            Err(_) => directory_of(path).join(fs::read_link(path).map_err(err)?),
        },
        _ => path.to_path_buf(),
    };
    let previous = match fs::metadata(&target) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(err(e)),
    };
    if let Some(m) = &previous {
        if m.is_dir() {
            return Err(err(io::Error::from(io::ErrorKind::IsADirectory)));
        }
        if !m.is_file() {
            return OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&target)
                .and_then(|mut f| f.write_all(bytes))
                .map_err(err);
        }
    }
    let (tmp_path, mut tmp) = temporary_beside(&target).map_err(err)?;
    let written = tmp
        .write_all(bytes)
        .and_then(|()| match &previous {
            Some(m) => tmp.set_permissions(m.permissions()),
            None => Ok(()),
        })
        .and_then(|()| tmp.sync_all());
    drop(tmp);
    if let Err(e) = written.and_then(|()| fs::rename(&tmp_path, &target)) {
        let _ = fs::remove_file(&tmp_path);
        return Err(err(e));
    }
    sync_directory(&target);
    Ok(())
}

/// The directory of `path` ("." for a bare file name).
fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Creates a new, uniquely named hidden file in the directory of `target`.
fn temporary_beside(target: &Path) -> io::Result<(PathBuf, File)> {
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?
        .to_string_lossy();
    let dir = directory_of(target);
    let pid = std::process::id();
    let mut attempt = 0u32;
    loop {
        let p = dir.join(format!(".{name}.memsight-{pid}-{attempt}.tmp"));
        match OpenOptions::new().write(true).create_new(true).open(&p) {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Makes the rename itself durable (best effort: the file is already complete either way).
fn sync_directory(target: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(directory_of(target)) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = target;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("memsight-write-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("temp dir");
        d
    }

    #[test]
    fn replaces_whole_and_refuses_inputs() {
        let d = dir("unit");
        let out = d.join("out.txt");
        file(&out, b"one", &[]).expect("new file");
        file(&out, b"two", &[]).expect("replaced");
        assert_eq!(fs::read(&out).expect("read"), b"two");
        let input = d.join("in.pickle");
        fs::write(&input, b"snapshot").expect("input");
        let spelled = d.join(".").join("in.pickle");
        let e = file(&spelled, b"report", &[&out, &input]).expect_err("refused");
        assert!(matches!(e, WriteError::IsInput { .. }), "{e}");
        assert_eq!(fs::read(&input).expect("read"), b"snapshot");
        let e = file(&d, b"x", &[]).expect_err("a directory");
        assert!(matches!(e, WriteError::File { .. }), "{e}");
        let mut names: Vec<_> = fs::read_dir(&d)
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["in.pickle", "out.txt"]);
        let _ = fs::remove_dir_all(&d);
    }
}
