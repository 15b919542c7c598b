//! `cargo xtask size --explain <component> --svg <file>`: where the bytes go,
//! as a picture. An icicle chart: the whole component on top, then its
//! component-level sections and core modules, each module's sections, the
//! code section by crate, and each crate's functions; every box is as wide
//! as its bytes. Hovering a box shows its full name, bytes and share (an SVG
//! `<title>`); any browser opens the file.
//!
//! The numbers are those of `--explain` ([`explain::Breakdown`]); this only
//! lays them out and writes the SVG by hand (rectangles, text, titles).

use std::fmt::Write as _;

use crate::guard::explain::{Breakdown, Module, Row, crate_of};
use crate::report::group;

/// Width of the picture, in pixels.
const WIDTH: f64 = 1200.0;
/// Height of one level of boxes.
const ROW: f64 = 34.0;
/// Space above the first level, for the title line.
const TOP: f64 = 40.0;
/// The most boxes drawn under one parent; the rest share one box.
const MOST_CHILDREN: usize = 40;
/// Approximate width of one character of the 11 px monospace labels.
const CHAR: f64 = 6.7;

/// A box of the picture: a label, its bytes, and what its bytes are made of.
#[derive(Debug)]
pub struct Node {
    pub label: String,
    pub bytes: usize,
    pub children: Vec<Node>,
    /// Which colour family it belongs to (see [`colour`]).
    kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Component,
    ComponentSection,
    Module,
    ModuleSection,
    /// A crate and its functions share a hue, picked from the crate's name.
    Crate(u32),
    Function(u32),
    Data,
}

fn leaf(label: impl Into<String>, bytes: usize, kind: Kind) -> Node {
    Node { label: label.into(), bytes, children: Vec::new(), kind }
}

/// `rows` as boxes, largest first: at most [`MOST_CHILDREN`], and those
/// under a thousandth of `total` grouped into one "(n more)" box.
fn boxes(rows: &[Row], total: usize, kind: Kind) -> Vec<Node> {
    let mut rows: Vec<&Row> = rows.iter().collect();
    rows.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.what.cmp(&b.what)));
    let shown = rows.iter().take(MOST_CHILDREN).take_while(|r| r.bytes * 1000 >= total).count();
    let mut nodes: Vec<Node> = rows[..shown].iter().map(|r| leaf(r.what.clone(), r.bytes, kind)).collect();
    let rest = &rows[shown..];
    if !rest.is_empty() {
        let bytes = rest.iter().map(|r| r.bytes).sum();
        nodes.push(leaf(format!("({} more, each smaller)", rest.len()), bytes, kind));
    }
    nodes
}

fn hue(name: &str) -> u32 {
    // FNV-1a: a stable hue per crate name across runs and machines.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in name.bytes() {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    hash % 360
}

/// The code section of a module, by crate and then by function when its
/// functions are named, else by function.
fn code(module: &Module, section: &Row, total: usize) -> Node {
    let mut node = leaf("code", section.bytes, Kind::ModuleSection);
    if module.crates.is_empty() {
        node.children = boxes(&module.functions, total, Kind::Function(30));
        return node;
    }
    for krate in &module.crates {
        let h = hue(&krate.what);
        let functions: Vec<Row> =
            module.functions.iter().filter(|f| crate_of(&f.what) == krate.what).cloned().collect();
        let mut crate_node = leaf(krate.what.clone(), krate.bytes, Kind::Crate(h));
        crate_node.children = boxes(&functions, total, Kind::Function(h));
        node.children.push(crate_node);
    }
    node
}

/// The tree of boxes for the component `name` broken down as `b`.
pub fn tree(name: &str, b: &Breakdown) -> Node {
    let mut root = leaf(name, b.total, Kind::Component);
    let mut children: Vec<Node> =
        b.sections.iter().map(|s| leaf(format!("component: {}", s.what), s.bytes, Kind::ComponentSection)).collect();
    for (i, module) in b.modules.iter().enumerate() {
        let label = match &module.part {
            Some(part) => format!("core module {i} ({part})"),
            None => format!("core module {i}"),
        };
        let mut node = leaf(label, module.bytes, Kind::Module);
        for section in &module.sections {
            node.children.push(match section.what.as_str() {
                "code" if !module.functions.is_empty() => code(module, section, b.total),
                "data" if !module.data.is_empty() => {
                    let mut data = leaf("data", section.bytes, Kind::ModuleSection);
                    data.children = boxes(&module.data, b.total, Kind::Data);
                    data
                }
                other => leaf(other, section.bytes, Kind::ModuleSection),
            });
        }
        node.children.sort_by_key(|n| std::cmp::Reverse(n.bytes));
        children.push(node);
    }
    children.sort_by_key(|n| std::cmp::Reverse(n.bytes));
    root.children = children;
    root
}

fn colour(kind: Kind) -> String {
    match kind {
        Kind::Component => "#cfcfcf".into(),
        Kind::ComponentSection => "#9ecae1".into(),
        Kind::Module => "#fdae6b".into(),
        Kind::ModuleSection => "#fdd0a2".into(),
        Kind::Crate(h) => format!("hsl({h}, 55%, 62%)"),
        Kind::Function(h) => format!("hsl({h}, 55%, 80%)"),
        Kind::Data => "#d9d9d9".into(),
    }
}

/// Escapes text for SVG content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// How deep the tree goes (the root is depth 1).
fn depth(node: &Node) -> usize {
    1 + node.children.iter().map(depth).max().unwrap_or(0)
}

fn draw(out: &mut String, node: &Node, x: f64, level: usize, width: f64, total: usize) {
    let y = TOP + level as f64 * ROW;
    let share = 100.0 * node.bytes as f64 / total.max(1) as f64;
    let _ = write!(
        out,
        "<g><title>{} \u{2014} {} bytes ({share:.1}%)</title><rect x=\"{x:.2}\" y=\"{y:.0}\" width=\"{:.2}\" \
         height=\"{:.0}\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"0.5\"/>",
        escape(&node.label),
        group(node.bytes),
        width.max(0.0),
        ROW - 2.0,
        colour(node.kind)
    );
    let fits = ((width - 6.0) / CHAR).floor().max(0.0) as usize;
    if fits >= 4 {
        let full = format!("{} {}", node.label, group(node.bytes));
        let label: String = if full.chars().count() <= fits {
            full
        } else {
            node.label.chars().take(fits - 1).chain(['\u{2026}']).collect()
        };
        let _ = write!(
            out,
            "<text x=\"{:.2}\" y=\"{:.0}\" font-family=\"monospace\" font-size=\"11\">{}</text>",
            x + 3.0,
            y + ROW / 2.0 + 3.0,
            escape(&label)
        );
    }
    out.push_str("</g>\n");
    let mut child_x = x;
    for child in &node.children {
        let child_width = width * child.bytes as f64 / node.bytes.max(1) as f64;
        draw(out, child, child_x, level + 1, child_width, total);
        child_x += child_width;
    }
}

/// The SVG of `root` (from [`tree`]).
pub fn svg(root: &Node) -> String {
    let height = TOP + depth(root) as f64 * ROW + 24.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {WIDTH:.0} {height:.0}\">"
    );
    let _ = writeln!(
        out,
        "<text x=\"4\" y=\"24\" font-family=\"sans-serif\" font-size=\"16\">Where the {} bytes of {} go: each box is \
         as wide as its bytes; hover for names and sizes</text>",
        group(root.bytes),
        escape(&root.label)
    );
    draw(&mut out, root, 0.0, 0, WIDTH, root.bytes);
    let _ = writeln!(
        out,
        "<text x=\"4\" y=\"{:.0}\" font-family=\"sans-serif\" font-size=\"11\" fill=\"#555555\">levels: component; \
         its sections and core modules; each module's sections; code by crate; functions (names from the names \
         file of these bytes)</text>",
        height - 8.0
    );
    out.push_str("</svg>\n");
    out
}
