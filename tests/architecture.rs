//! The structure ARCHITECTURE.md promises, checked on the source itself: every reference from
//! one file to another module points down the layers, no chain of references leads a file back
//! to itself, and no source file passes 1,000 lines.
//!
//! References are read from `use` items and from paths in code (`crate::analysis::sites::f`,
//! `super::ViewCtx`); comments and `#[cfg(test)]` modules are left out (a doc link is not a
//! dependency, and a test module's `super` is its own file).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules from the bottom layer up. A module may refer to its own layer and those
/// below. `cli` sits above `ui` because `memsight` with no subcommand opens the app; the
/// Python extension above both runs the command line.
const LAYERS: [&[&str]; 11] = [
    &["units"],
    &["model"],
    &["read"],
    &["allocator"],
    &["analysis"],
    &["whatif", "ranks"],
    &["output"],
    &["ui"],
    &["cli"],
    &["python"],
    &["heap", "main", ""],
];

fn layer(top: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&top))
        .unwrap_or_else(|| panic!("module `{top}` has no layer in tests/architecture.rs"))
}

/// `src/a/b.rs` and `src/a/b/mod.rs` -> `a::b`; `src/lib.rs` -> `` (the crate root).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("src is readable")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without comments and without its trailing test module.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(path: &str) -> Vec<String> {
    let path: String = path.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = path.find('{') else {
        return vec![path];
    };
    let (prefix, rest) = path.split_at(open);
    let inner = &rest[1..rest.rfind('}').unwrap_or(rest.len())];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|i| !i.is_empty())
        .flat_map(|i| expand(&format!("{prefix}{i}")))
        .collect()
}

/// Every path starting with `crate::`, `super::` or `memsight::` in `code`.
fn paths_in(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    // `use` items, braces and all.
    for item in code.split("use ").skip(1) {
        let item = item.split(';').next().unwrap_or("");
        if item.starts_with("crate::") || item.starts_with("super::") {
            out.extend(expand(item));
        }
    }
    // Paths in expressions and types.
    for root in ["crate::", "super::", "memsight::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(root) {
            let start = from + i;
            from = start + root.len();
            let before = code[..start].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let end = code[start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| start + e);
            out.push(code[start..end].trim_end_matches(':').to_string());
        }
    }
    out
}

/// The module a path refers to: the longest prefix that is a module of the crate.
fn resolve(path: &str, from: &str, modules: &BTreeSet<String>) -> Option<String> {
    let mut segs: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = if from.is_empty() {
        Vec::new()
    } else {
        from.split("::").collect()
    };
    match segs.first().copied() {
        Some("crate") | Some("memsight") => {
            base.clear();
            segs.remove(0);
        }
        Some("super") => {
            while segs.first() == Some(&"super") {
                segs.remove(0);
                base.pop();
            }
        }
        _ => return None,
    }
    base.extend(segs);
    (0..=base.len())
        .rev()
        .map(|n| base[..n].join("::"))
        .find(|m| modules.contains(m))
}

/// Whether `child` is a module directly inside `parent`.
fn is_child(child: &str, parent: &str) -> bool {
    match parent {
        "" => !child.is_empty() && !child.contains("::"),
        p => child
            .strip_prefix(p)
            .and_then(|r| r.strip_prefix("::"))
            .is_some_and(|r| !r.contains("::")),
    }
}

/// Whether `code` has `needle` where it starts a path (not inside a longer name or path).
fn mentions(code: &str, needle: &str) -> bool {
    code.match_indices(needle).any(|(i, _)| {
        !code[..i]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
    })
}

struct Graph {
    edges: BTreeMap<String, BTreeSet<String>>,
    lines: BTreeMap<String, usize>,
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 40, "found only {} source files", files.len());
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut g = Graph {
        edges: BTreeMap::new(),
        lines: BTreeMap::new(),
    };
    for f in &files {
        let m = module_of(&src, f);
        let text = std::fs::read_to_string(f).expect("a readable source file");
        g.lines
            .insert(f.display().to_string(), text.lines().count());
        let code = code_of(&text);
        let mut to: BTreeSet<String> = paths_in(&code)
            .iter()
            .filter_map(|p| resolve(p, &m, &modules))
            .filter(|t| *t != m)
            .collect();
        // A parent names its children without a prefix (`replay::Replay`, `pub use x::Y`).
        for child in modules.iter().filter(|c| is_child(c, &m)) {
            let name = child.rsplit("::").next().unwrap_or("");
            if mentions(&code, &format!("{name}::")) {
                to.insert(child.clone());
            }
        }
        g.edges.insert(m, to);
    }
    g
}

#[test]
fn references_point_down_the_layers() {
    let g = graph();
    let mut wrong = Vec::new();
    for (from, tos) in &g.edges {
        let top = |m: &str| m.split("::").next().unwrap_or("").to_string();
        let (a, la) = (top(from), layer(&top(from)));
        for to in tos {
            let (b, lb) = (top(to), layer(&top(to)));
            if lb > la || (la == lb && a != b && la != layer("")) {
                wrong.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(wrong.is_empty(), "upward references: {wrong:#?}");
}

#[test]
fn no_file_refers_its_way_back_to_itself() {
    let g = graph();
    // Tarjan's strongly connected components, iteratively small enough to recurse.
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        circles: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                scc.push(w);
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                t.circles.push(scc);
            }
        }
    }
    let mut t = T {
        g: &g.edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        circles: Vec::new(),
    };
    for v in g.edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    assert!(t.circles.is_empty(), "circles of files: {:#?}", t.circles);
}

#[test]
fn no_source_file_passes_a_thousand_lines() {
    let g = graph();
    let long: Vec<_> = g.lines.iter().filter(|(_, &n)| n > 1000).collect();
    assert!(long.is_empty(), "files over 1,000 lines: {long:?}");
}

#[test]
fn the_reader_of_paths_expands_groups_and_resolves_super() {
    assert_eq!(
        expand("crate::a::{b, c::{d, e}}"),
        ["crate::a::b", "crate::a::c::d", "crate::a::c::e"]
    );
    let modules: BTreeSet<String> = ["", "ui", "ui::view", "ui::views", "ui::views::timeline"]
        .map(String::from)
        .into();
    assert_eq!(
        resolve("super::timeline::lifetime", "ui::views::stack", &modules).as_deref(),
        Some("ui::views::timeline")
    );
    assert_eq!(
        resolve("crate::ui::view::ViewCtx", "ui::views::stack", &modules).as_deref(),
        Some("ui::view")
    );
}
