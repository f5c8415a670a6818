//! Source lines for stack frames: files are looked up where the frame says, then under the
//! configured source roots (by ever shorter tails of the recorded path), and cached.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Default)]
pub struct SourceCache {
    files: HashMap<String, Option<(PathBuf, Vec<String>)>>,
}

impl SourceCache {
    /// Forgets what was found (after the source roots change).
    pub fn clear(&mut self) {
        self.files.clear();
    }

    /// The local path and lines of `file`, if it can be found.
    pub fn get(&mut self, file: &str, roots: &[PathBuf]) -> Option<&(PathBuf, Vec<String>)> {
        if !self.files.contains_key(file) {
            let found = locate(file, roots).and_then(|p| {
                let text = std::fs::read_to_string(&p).ok()?;
                Some((p, text.lines().map(str::to_string).collect()))
            });
            self.files.insert(file.to_string(), found);
        }
        self.files.get(file).and_then(|f| f.as_ref())
    }
}

/// Finds `file` on this machine.
pub fn locate(file: &str, roots: &[PathBuf]) -> Option<PathBuf> {
    if file.is_empty() || file.starts_with('<') {
        return None;
    }
    let p = Path::new(file);
    if p.is_file() {
        return Some(p.to_path_buf());
    }
    let parts: Vec<&str> = file.split(['/', '\\']).filter(|s| !s.is_empty()).collect();
    for root in roots {
        for k in 0..parts.len() {
            let candidate = parts[k..].iter().fold(root.clone(), |acc, s| acc.join(s));
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}
