//! Call trees ([`crate::analysis::calltree`]) written for other tools and for people: the
//! folded-stack text that inferno, flamegraph.pl and speedscope read, an interactive SVG drawn
//! by inferno, and the tree as JSON (the contract is in README.md, "memsight flamegraph").
//!
//! The folded format has one line per stack, `frame;frame;frame BYTES`, outermost first, and
//! no escape of its own: a `;` would split a frame and a newline would end the line. Frame
//! names are therefore percent-encoded for exactly `%`, `;`, CR and LF (`%25`, `%3B`, `%0D`,
//! `%0A`), so the text reads as before for every real name and decodes back. A growth tree is
//! written as inferno's differential input, `frame;frame BYTES_AT_A BYTES_AT_B`, which it draws
//! red where memory grew and blue where it shrank.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::analysis::calltree::{CallTree, Key, Node, NO_NODE};
use crate::analysis::sites::is_python_frame;
use crate::model::Snapshot;

/// The name of the root node (inferno's, too).
pub const ROOT_NAME: &str = "all";
/// The name of the node that folds a stack's C++ frames.
pub const NATIVE_NAME: &str = "[C++ frames]";
/// The frame written for blocks whose stack is empty (no frame and no group).
pub const NO_STACK_NAME: &str = "[no stack]";

/// An output format of `memsight flamegraph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FlameFormat {
    /// `frame;frame;frame BYTES` per line, outermost first.
    Folded,
    /// An interactive, self-contained flame graph (inferno).
    Svg,
    /// The tree: a flat list of nodes in depth-first order.
    Json,
}

impl FlameFormat {
    /// The format a file name asks for: `.folded`, `.svg`, `.json`.
    pub fn from_path(path: &Path) -> Option<FlameFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "folded" => Some(FlameFormat::Folded),
            "svg" => Some(FlameFormat::Svg),
            "json" => Some(FlameFormat::Json),
            _ => None,
        }
    }
}

/// Why a flame graph could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum FlameError {
    #[error("nothing is allocated at this point, so the flame graph would be empty (the .folded and .json outputs can be written)")]
    Empty,
    #[error("inferno could not draw the flame graph")]
    Svg(#[source] std::io::Error),
}

/// Escapes a frame name for the folded format (see the module documentation).
pub fn escape_frame(name: &str) -> Cow<'_, str> {
    if !name.contains(['%', ';', '\n', '\r']) {
        return Cow::Borrowed(name);
    }
    let mut s = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        match c {
            '%' => s.push_str("%25"),
            ';' => s.push_str("%3B"),
            '\n' => s.push_str("%0A"),
            '\r' => s.push_str("%0D"),
            c => s.push(c),
        }
    }
    Cow::Owned(s)
}

/// The display name of node `n`: `function (file.py:line)` for a Python frame (py-spy's
/// form), `function (file)` or `function` for a C++ one, the label of a group.
pub fn node_name(snap: &Snapshot, tree: &CallTree, n: u32) -> String {
    let Some(node) = tree.nodes.get(n as usize) else {
        return String::new();
    };
    let frame = |f| {
        let fr = snap.frames.get(f);
        let function = match snap.frames.strings.get(fr.name) {
            "" => "??",
            name => name,
        };
        let file = snap.frames.filename(f);
        if is_python_frame(file, fr.line) {
            format!("{function} ({file}:{})", fr.line)
        } else if file.is_empty() || file == "??" {
            function.to_string()
        } else {
            format!("{function} ({file})")
        }
    };
    match node.key {
        Key::Root => ROOT_NAME.to_string(),
        Key::Label(l) => tree.labels.get(l as usize).cloned().unwrap_or_default(),
        Key::Frame(f) => frame(f),
        Key::Library(f) => format!("{} [+ library frames]", frame(f)),
        Key::Native => NATIVE_NAME.to_string(),
    }
}

/// The names of every node, by node index.
pub fn names(snap: &Snapshot, tree: &CallTree) -> Vec<String> {
    (0..tree.nodes.len() as u32)
        .map(|n| node_name(snap, tree, n))
        .collect()
}

/// The folded-stack text of a tree: one line per node where stacks end, its bytes (at A and
/// at B for a growth tree).
pub fn folded(snap: &Snapshot, tree: &CallTree) -> String {
    let names: Vec<String> = names(snap, tree)
        .iter()
        .map(|n| escape_frame(n).into_owned())
        .collect();
    let mut s = String::new();
    for n in tree.stack_ends() {
        let node = &tree.nodes[n as usize];
        let path = tree.path(n);
        if path.len() == 1 {
            s.push_str(NO_STACK_NAME);
        }
        for (i, &p) in path.iter().skip(1).enumerate() {
            if i > 0 {
                s.push(';');
            }
            s.push_str(&names[p as usize]);
        }
        let _ = if tree.is_growth() {
            writeln!(s, " {} {}", node.own.base_bytes, node.own.bytes)
        } else {
            writeln!(s, " {}", node.own.bytes)
        };
    }
    s
}

/// One node of the JSON tree.
#[derive(Debug, Serialize)]
pub struct NodeJson {
    pub name: String,
    /// `root`, `frame`, `library` (a folded run of library frames), `native` (folded C++
    /// frames) or `group` (an annotation range, compile context or category).
    pub kind: &'static str,
    /// For frames: the file, line (0 for C++) and function.
    #[serde(flatten)]
    pub frame: Option<FrameJson>,
    /// Index of the parent (`null` for the root).
    pub parent: Option<u32>,
    /// One past the last node of this subtree.
    pub end: u32,
    pub depth: u32,
    pub bytes: u64,
    pub blocks: u64,
    pub self_bytes: u64,
    pub self_blocks: u64,
    /// Growth trees only: the same at the base point, and `bytes - base_bytes`.
    #[serde(flatten)]
    pub growth: Option<GrowthJson>,
}

/// Where a frame node's code is.
#[derive(Debug, Serialize)]
pub struct FrameJson {
    pub file: String,
    pub line: i64,
    pub function: String,
}

/// A growth tree node's bytes at the base point, and how much it grew since.
#[derive(Debug, Serialize)]
pub struct GrowthJson {
    pub base_bytes: u64,
    pub base_self_bytes: u64,
    pub delta: i64,
    pub self_delta: i64,
}

/// The JSON document of a tree.
#[derive(Debug, Serialize)]
pub struct TreeJson {
    pub device: usize,
    /// The event shown (`null`: the dump of a file without a trace).
    pub event: Option<usize>,
    /// Growth trees: the event grown from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_event: Option<Option<usize>>,
    pub growth: bool,
    pub inverted: bool,
    /// Bytes at the root: the allocated memory at `event`.
    pub bytes: u64,
    /// Depth-first; node 0 is the root; the subtree of node i is `i..nodes[i].end`.
    pub nodes: Vec<NodeJson>,
}

/// The tree as JSON (README.md, "memsight flamegraph", documents it).
pub fn json(snap: &Snapshot, tree: &CallTree) -> TreeJson {
    let growth = tree.is_growth();
    let nodes = tree
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| node_json(snap, tree, i as u32, n, growth))
        .collect();
    TreeJson {
        device: tree.device,
        event: tree.event,
        base_event: tree.base_event,
        growth,
        inverted: tree.inverted,
        bytes: tree.root().total.bytes,
        nodes,
    }
}

fn node_json(snap: &Snapshot, tree: &CallTree, i: u32, n: &Node, growth: bool) -> NodeJson {
    let frame = match n.key {
        Key::Frame(f) | Key::Library(f) => Some((snap.frames.get(f), f)),
        _ => None,
    };
    let kind = match n.key {
        Key::Root => "root",
        Key::Label(_) => "group",
        Key::Frame(_) => "frame",
        Key::Library(_) => "library",
        Key::Native => "native",
    };
    NodeJson {
        name: node_name(snap, tree, i),
        kind,
        frame: frame.map(|(fr, f)| FrameJson {
            file: snap.frames.filename(f).to_string(),
            line: fr.line,
            function: snap.frames.strings.get(fr.name).to_string(),
        }),
        parent: (n.parent != NO_NODE).then_some(n.parent),
        end: n.end,
        depth: n.depth,
        bytes: n.total.bytes,
        blocks: n.total.blocks,
        self_bytes: n.own.bytes,
        self_blocks: n.own.blocks,
        growth: growth.then(|| GrowthJson {
            base_bytes: n.total.base_bytes,
            base_self_bytes: n.own.base_bytes,
            delta: n.total.delta(),
            self_delta: n.own.delta(),
        }),
    }
}

/// An interactive flame graph of the tree, drawn by inferno (search, zoom, tooltips with
/// bytes). A growth tree is drawn as a differential flame graph: widths are the bytes at B,
/// red where memory grew from A, blue where it shrank.
pub fn svg(snap: &Snapshot, tree: &CallTree, title: &str) -> Result<String, FlameError> {
    if tree.root().total.bytes == 0 {
        return Err(FlameError::Empty);
    }
    let text = folded(snap, tree);
    let mut opt = inferno::flamegraph::Options::default();
    opt.title = title.to_string();
    opt.count_name = "bytes".into();
    opt.name_type = String::new();
    opt.colors =
        inferno::flamegraph::Palette::Multi(inferno::flamegraph::color::MultiPalette::Python);
    opt.deterministic = true;
    let mut out = Vec::new();
    inferno::flamegraph::from_lines(&mut opt, text.lines(), &mut out).map_err(FlameError::Svg)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The tree in `format`.
pub fn render(
    snap: &Snapshot,
    tree: &CallTree,
    format: FlameFormat,
    title: &str,
) -> Result<String, FlameError> {
    Ok(match format {
        FlameFormat::Folded => folded(snap, tree),
        FlameFormat::Svg => svg(snap, tree, title)?,
        FlameFormat::Json => {
            let mut s = serde_json::to_string_pretty(&json(snap, tree)).unwrap_or_default();
            s.push('\n');
            s
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_escape_and_formats_follow_extensions() {
        assert_eq!(escape_frame("forward (model.py:3)"), "forward (model.py:3)");
        assert_eq!(escape_frame("a;b\nc%d\r"), "a%3Bb%0Ac%25d%0D");
        for (path, want) in [
            ("x.FOLDED", Some(FlameFormat::Folded)),
            ("x.svg", Some(FlameFormat::Svg)),
            ("x.json", Some(FlameFormat::Json)),
            ("x.html", None),
        ] {
            assert_eq!(FlameFormat::from_path(Path::new(path)), want, "{path}");
        }
    }
}
