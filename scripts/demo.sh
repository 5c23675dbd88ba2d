#!/usr/bin/env bash
# Render every bundled dry clip (assets/audio/dry/*.wav) through the default chain into out/demo/.
#
# Usage: scripts/demo.sh [CHAIN.toml]   (default config/chains/default.toml)
# Environment: TAIL=seconds of silence appended so reverb/delay tails ring out (default 1.0).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

chain=${1:-config/chains/default.toml}
tail_s=${TAIL:-1.0}
outdir=out/demo

bash scripts/setup.sh
[[ -f $chain ]] || { echo "demo: chain file $chain not found" >&2; exit 1; }
cargo build --release

shopt -s nullglob
clips=(assets/audio/dry/*.wav)
((${#clips[@]} > 0)) || { echo "demo: no clips in assets/audio/dry/ (run scripts/make_clips.sh)" >&2; exit 1; }

mkdir -p "$outdir"
for clip in "${clips[@]}"; do
    name=$(basename "$clip" .wav)
    target/release/fxmatch render --chain "$chain" --tail "$tail_s" "$clip" "$outdir/$name.wav"
done
echo "demo: rendered ${#clips[@]} clip(s) through $chain into $(pwd)/$outdir/"
ls -l "$outdir"
