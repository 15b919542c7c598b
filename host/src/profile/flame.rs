//! The flame graph: sampled stacks folded (`outer;inner count`, the format
//! of Brendan Gregg's scripts that `inferno` reads) and drawn by `inferno`
//! as an SVG a browser opens (hover names a frame, click zooms). Also reads
//! the frames back out of such an SVG, for the tests and for anyone
//! checking what a profile shows without a browser.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

/// Stacks and how many samples each got.
#[derive(Default)]
pub(super) struct Folded {
    /// Stack (frames outermost first, joined by `;`) to its count.
    stacks: BTreeMap<String, u64>,
    /// The innermost frame of each sample to its count.
    leaves: BTreeMap<String, u64>,
    samples: u64,
}

impl Folded {
    /// Counts one sample of the stack `frames`, outermost first; an empty
    /// stack (no guest frame) is not counted.
    pub(super) fn add(&mut self, frames: impl Iterator<Item = String>) {
        // The folded format separates frames with `;` and ends a stack at
        // its last space.
        let frames: Vec<String> = frames.map(|name| name.replace([';', ' '], "_")).collect();
        let Some(leaf) = frames.last() else { return };
        *self.leaves.entry(leaf.clone()).or_default() += 1;
        *self.stacks.entry(frames.join(";")).or_default() += 1;
        self.samples += 1;
    }

    pub(super) fn samples(&self) -> u64 {
        self.samples
    }

    /// The function most samples were taken in (innermost frame), with its
    /// count: where the time went.
    pub(super) fn hottest(&self) -> Option<(&str, u64)> {
        self.leaves.iter().max_by_key(|(_, count)| **count).map(|(name, count)| (name.as_str(), *count))
    }

    /// The flame graph of the samples, titled `title`, as SVG bytes.
    pub(super) fn draw(&self, title: &str) -> Result<Vec<u8>> {
        let lines: Vec<String> = self.stacks.iter().map(|(stack, count)| format!("{stack} {count}")).collect();
        let mut options = inferno::flamegraph::Options::default();
        options.title = title.to_string();
        options.count_name = "samples".to_string();
        let mut out = Vec::new();
        inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut out)
            .context("inferno cannot draw the flame graph")?;
        Ok(out)
    }
}

/// One frame (box) of a flame graph: its function, its width in samples,
/// and its depth (0 for `all`, 1 for the outermost guest frames).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub name: String,
    pub samples: u64,
    pub depth: u32,
}

/// The frames of a flame graph `inferno` drew: each box's `<title>`
/// (`<function> (<n> samples, <p>%)`) and its `y`, ranked into depths from
/// the bottom.
pub fn frames_of_svg(svg: &str) -> Vec<Frame> {
    let mut found = Vec::new();
    for group in svg.split("<g>").skip(1) {
        let Some(title) = between(group, "<title>", "</title>") else { continue };
        let Some(y) = between(group, " y=\"", "\"").and_then(|y| y.parse::<f64>().ok()) else { continue };
        let title = unescape(title);
        let Some((name, rest)) = title.rsplit_once(" (") else { continue };
        let Some(count) = rest.split(' ').next() else { continue };
        let Ok(samples) = count.replace(',', "").parse::<u64>() else { continue };
        found.push((name.to_string(), samples, y));
    }
    // Deeper frames are drawn higher up: a smaller y.
    let mut ys: Vec<f64> = found.iter().map(|(_, _, y)| *y).collect();
    ys.sort_by(|a, b| b.total_cmp(a));
    ys.dedup();
    found
        .into_iter()
        .map(|(name, samples, y)| {
            let depth = ys.iter().position(|level| *level == y).unwrap_or(0) as u32;
            Frame { name, samples, depth }
        })
        .collect()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = from + text[from..].find(end)?;
    Some(&text[from..to])
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}
