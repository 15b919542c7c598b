# One-line wrappers over `cargo xtask`; `just --list` shows them.

# Build, optimize and verify every component into target/dist/.
dist *components:
    cargo xtask dist {{components}}

# Serve a component and rebuild it on every saved change (pass serve's flags after it).
dev component *flags:
    cargo xtask dev {{component}} {{flags}}

# Check target/dist against the budgets in edgekit.toml (pass flags: --bless, --explain edge-fn, ...).
size *flags:
    cargo xtask size {{flags}}

# Run every test: the artifacts in wasmtime, the pipeline, tidy.
test:
    cargo test

# Check the workspace's own rules.
tidy:
    cargo xtask tidy
