#!/usr/bin/env bash
# Render every bundled dry clip (assets/audio/dry/*.wav) through a chain into out/demo/, then match
# the dry guitar clip to a reference style (config/styles/crunch-room.params.toml) offline with
# `fxmatch match`, then live with the daemon on a dummy JACK server (scripts/daemon_demo.sh).
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
fxmatch="${CARGO_TARGET_DIR:-target}/release/fxmatch"

shopt -s nullglob
clips=(assets/audio/dry/*.wav)
((${#clips[@]} > 0)) || { echo "demo: no clips in assets/audio/dry/ (run scripts/make_clips.sh)" >&2; exit 1; }

mkdir -p "$outdir"
for clip in "${clips[@]}"; do
    name=$(basename "$clip" .wav)
    "$fxmatch" render --chain "$chain" --tail "$tail_s" "$clip" "$outdir/$name.wav"
done
echo "demo: rendered ${#clips[@]} clip(s) through $chain into $(pwd)/$outdir/"
ls -l "$outdir"

# The reference library (config/references/, the daemon's): other content (acoustic guitar)
# through the default chain at each bundled style (config/styles/).
for style in config/styles/*.params.toml; do
    name=$(basename "$style" .params.toml)
    "$fxmatch" render --chain config/chains/default.toml --params "$style" \
        assets/audio/content/guitar_acoustic.wav "config/references/$name.wav"
done

# The match: the dry electric guitar matched to the crunch-room reference with the live profile.
reference=config/references/crunch-room.wav
"$fxmatch" match assets/audio/dry/guitar_clean.wav "$reference" \
    --chain config/chains/default.toml --profile live --seed 1 \
    -o "$outdir/guitar_clean_matched.wav" --report "$outdir/match_report.json"
echo "demo: matched assets/audio/dry/guitar_clean.wav to $reference:"
echo "      $outdir/guitar_clean_matched.wav, its params ($outdir/guitar_clean_matched.params.toml) and $outdir/match_report.json"

# The daemon: the same match live, on a private JACK server with no sound card, over OSC.
bash scripts/daemon_demo.sh
