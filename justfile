# One-line wrappers over `cargo xtask`; `just --list` shows them.

# Build, optimize and verify every component into target/dist/.
dist *components:
    cargo xtask dist {{components}}

# Check target/dist against size-budgets.toml (pass flags: --bless, --explain edge-fn, ...).
size *flags:
    cargo xtask size {{flags}}

# Run every test: the artifacts in wasmtime, the pipeline, tidy.
test:
    cargo test

# Check the workspace's own rules.
tidy:
    cargo xtask tidy
