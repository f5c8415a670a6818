//! The rank a file name gives, and the order files of a directory are taken in.
//!
//! Jobs name their snapshots in many ways: `rank3.pickle`, `rank-3.pickle`,
//! `snapshot_{step}_{rank}.pickle` (two numbers: the rank is the last),
//! `mem_rank_3_step_200.pickle.xz` (the rank is the one after `rank`). The rule: the number
//! after the last `rank` (separated by nothing, `-`, `_`, `.` or `=`), else the last number of
//! the name without its extensions. A name with no number gives none.

use std::cmp::Ordering;

/// Extensions stripped before looking for numbers (`.pickle.xz`, `.summary.json`).
const EXTENSIONS: [&str; 10] = [
    ".xz",
    ".gz",
    ".zst",
    ".zstd",
    ".json",
    ".summary",
    ".pickle",
    ".pkl",
    ".pt",
    ".decompressed",
];

/// The rank in a file name (directories are ignored), or `None`.
pub fn rank_from_name(name: &str) -> Option<u32> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let mut stem = base.to_ascii_lowercase();
    while let Some(ext) = EXTENSIONS.iter().find(|e| stem.ends_with(*e)) {
        stem.truncate(stem.len() - ext.len());
    }
    if let Some(i) = stem.rfind("rank") {
        let after = stem[i + 4..].trim_start_matches(['-', '_', '.', '=']);
        let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
        if let Ok(r) = digits.parse() {
            return Some(r);
        }
    }
    let end = stem.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = stem[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    stem[start..end].parse().ok()
}

/// Orders names as people count: `rank2` before `rank10`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a, b);
    loop {
        match (x.chars().next(), y.chars().next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let (nx, rx) = split_number(x);
                let (ny, ry) = split_number(y);
                let o = nx
                    .trim_start_matches('0')
                    .len()
                    .cmp(&ny.trim_start_matches('0').len())
                    .then_with(|| nx.trim_start_matches('0').cmp(ny.trim_start_matches('0')));
                if o != Ordering::Equal {
                    return o;
                }
                (x, y) = (rx, ry);
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(&d);
                }
                (x, y) = (&x[c.len_utf8()..], &y[d.len_utf8()..]);
            }
        }
    }
}

fn split_number(s: &str) -> (&str, &str) {
    let n = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec!["rank10.pickle", "rank2.pickle", "rank1.pickle", "a.pickle"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            ["a.pickle", "rank1.pickle", "rank2.pickle", "rank10.pickle"]
        );
        assert_eq!(natural_cmp("r007", "r7"), Ordering::Equal);
    }
}
