#!/usr/bin/env bash
# Build fxmatch's built-in effects as LV2 plugins and install the bundle.
#
# Usage: bash scripts/install_lv2.sh [DEST]     (default DEST: ~/.lv2/fxmatch.lv2)
#
# Builds the `fxmatch-lv2` cdylib (lv2-plugins/) in release, writes the bundle's TTL with
# `fxmatch lv2 ttl` (generated from the effects' parameter specs) and copies the binary next
# to it as fxmatch_lv2.so (stripped of debug info). DEST is replaced as a whole. Plugins:
# https://fxmatch.dev/plugins/{gain,eq,compressor,distortion,delay,reverb}; check with
# `lv2ls | grep fxmatch` (set LV2_PATH to include DEST's parent when it is not a standard path).
#
# Environment: FXMATCH_LV2_PROFILE (cargo profile, default release; the tests use `test`),
# FXMATCH_BIN (an already built fxmatch binary for the TTL; default: built with that profile),
# CARGO (cargo executable), FXMATCH_LV2_TARGET (a cross target triple, e.g.
# aarch64-unknown-linux-gnu: the plugin library is built for it and stripped with its objcopy;
# FXMATCH_BIN, built for the same target, then runs through FXMATCH_BIN_RUNNER, e.g.
# "qemu-aarch64 -L /"). CARGO_TARGET_DIR is honoured.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${1:-$HOME/.lv2/fxmatch.lv2}
profile=${FXMATCH_LV2_PROFILE:-release}
cargo=${CARGO:-cargo}
target=${CARGO_TARGET_DIR:-$root/target}
cross=${FXMATCH_LV2_TARGET:-}
target_args=()
objcopy=objcopy
if [[ -n $cross ]]; then
    target=$target/$cross
    target_args=(--target "$cross")
    case $cross in
        aarch64-*) objcopy=aarch64-linux-gnu-objcopy ;;
    esac
fi
case $profile in
    dev | test) outdir=$target/debug ;;
    bench) outdir=$target/release ;;
    *) outdir=$target/$profile ;;
esac

(cd "$root" && "$cargo" build --profile "$profile" "${target_args[@]}" -p fxmatch-lv2 --lib)
fxmatch_bin=${FXMATCH_BIN:-}
if [[ -z $fxmatch_bin ]]; then
    (cd "$root" && "$cargo" build --profile "$profile" "${target_args[@]}" -p fxmatch --bin fxmatch)
    fxmatch_bin=$outdir/fxmatch
fi
# shellcheck disable=SC2206 # the runner is a command line ("qemu-aarch64 -L /")
runner=(${FXMATCH_BIN_RUNNER:-})

so=$outdir/libfxmatch_lv2.so
[[ -f $so ]] || { echo "install_lv2: $so was not built" >&2; exit 1; }

mkdir -p "$(dirname "$dest")"
tmp=$(mktemp -d "${dest%/}.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"${runner[@]}" "$fxmatch_bin" lv2 ttl "$tmp"
if command -v "$objcopy" >/dev/null 2>&1; then
    "$objcopy" --strip-debug "$so" "$tmp/fxmatch_lv2.so"
else
    cp "$so" "$tmp/fxmatch_lv2.so"
fi
chmod 755 "$tmp" "$tmp/fxmatch_lv2.so"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "install_lv2: installed $(ls "$dest" | wc -l) files into $dest"
