#!/bin/sh
# rustc for edgekit-wasmcloud's build (see src/wasmcloud/tools.rs in
# xtask-deploy): wasmcloud-host 0.27.1, the last 1.x release, no longer
# compiles on current Rust ("queries overflow the depth limit!" laying out an
# async block in wasmbus/ctl.rs) without a higher recursion limit, which only
# the crate itself can set. For that one crate this adds the attribute from
# the command line (-Zcrate-attr, allowed on a stable rustc for this one
# invocation by RUSTC_BOOTSTRAP); every other crate is compiled as it is.
# Cargo calls it as: rustc-wrapper.sh <rustc> <args...>
case " $* " in
*" --crate-name wasmcloud_host "*)
    RUSTC_BOOTSTRAP=1 exec "$@" '-Zcrate-attr=recursion_limit="256"' ;;
esac
exec "$@"
