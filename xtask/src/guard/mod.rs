//! The guard wing: checks that keep the workspace honest after the
//! pipeline ran. `size` (budgets over the project file's `[budgets]`), `explain` (where
//! an artifact's bytes go), `picture` (the same as an SVG), `tidy` (the workspace's own rules) and
//! `witbump` (moving the pinned WASI and every component with it).

pub mod explain;
pub mod picture;
pub mod size;
pub mod tidy;
pub mod witbump;

#[cfg(test)]
mod tests;
