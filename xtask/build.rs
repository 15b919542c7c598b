//! Does nothing: xtask has a build script only so that its
//! `[build-dependencies]` can pin features of the crates binaryen's build
//! script uses (see the comment above them in Cargo.toml), keeping one build
//! of binaryen for `cargo xtask` and `cargo test` alike.

fn main() {}
