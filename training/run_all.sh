#!/usr/bin/env bash
# Reproduce the style encoder from nothing: content -> dataset -> train -> export -> quantize.
#
#   bash training/run_all.sh            # the full run (see training/README.md for its cost)
#   bash training/run_all.sh --smoke    # a few minutes: proves the pipeline, not a model
#
# Every step resumes: content files, dataset shards and training checkpoints already written are
# kept. Sizes come from the environment: MINUTES (content), PAIRS, SETTINGS (random settings per
# effect for the presets), EPOCHS, BATCH, CROP (training crop, seconds), SEED, DATA (output root, default training/data), VENV.
# CONTENT=real: the content is recorded audio from Debian packages (training/make_real_content.py:
# game soundtracks, drum kits, instrument samples, recorded speech; MINUTES of train content, default
# 80, and HELD_OUT_MINUTES of held-out content, default 18); the outputs are then named real-full /
# real-smoke. CONTENT=synth (the default): MIDI, espeak-ng and synthesis (make_content.py), as shipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source training/common.sh

NAME=full
CONTENT=${CONTENT:-synth}
if [[ "$CONTENT" != synth && "$CONTENT" != real ]]; then
    echo "run_all.sh: CONTENT must be 'synth' or 'real', not '$CONTENT'" >&2
    exit 2
fi
if [[ "${1:-}" == "--smoke" ]]; then
    NAME=smoke
    : "${MINUTES:=5}" "${HELD_OUT_MINUTES:=2}" "${PAIRS:=400}" "${SETTINGS:=200}" "${EPOCHS:=2}" "${BATCH:=16}"
fi
if [[ "$CONTENT" == real ]]; then
    NAME=real-$NAME
    : "${MINUTES:=80}" "${HELD_OUT_MINUTES:=18}"
fi
: "${MINUTES:=20}" "${PAIRS:=10000}" "${SETTINGS:=1000}" "${EPOCHS:=8}" "${BATCH:=32}" "${SEED:=0}" "${CROP:=1.5}"
DATA=${DATA:-training/data}
VENV=${VENV:-.venv-train}
NICE=${NICE:-10}

echo "== Debian packages (content: fluidsynth, GM soundfont, espeak-ng)"
bash scripts/setup.sh fluidsynth fluid-soundfont-gm espeak-ng
if [[ "$CONTENT" == real ]]; then
    # Recorded audio (~1.2 GB to download, ~1.6 GB installed with dependencies) and its decoders: the list is
    # make_real_content.py's PACKAGES.
    echo "== Debian packages (real content: game music, drum kits, samples, recorded speech)"
    bash scripts/setup.sh $(python3 training/make_real_content.py --packages)
fi

ensure_venv "$VENV"
PY="nice -n $NICE $VENV/bin/python"

build_fxmatch

if [[ "$CONTENT" == real ]]; then
    real_content "$DATA/content-$NAME" "$MINUTES" "$HELD_OUT_MINUTES" "$SEED"
    TRAIN_CONTENT="$DATA/content-$NAME/train"   # held-out/ stays out of the pairs
else
    echo "== content: $MINUTES minutes into $DATA/content-$NAME"
    $PY training/make_content.py "$DATA/content-$NAME" --minutes "$MINUTES" --seed "$SEED"
    TRAIN_CONTENT="$DATA/content-$NAME"
fi

encoder_pairs "$TRAIN_CONTENT" "$DATA/pairs-$NAME" "$PAIRS" "$SETTINGS" "$SEED"

echo "== train: $EPOCHS epochs into $DATA/run-$NAME"
$PY training/train.py --data "$DATA/pairs-$NAME" --out "$DATA/run-$NAME" --epochs "$EPOCHS" \
    --batch "$BATCH" --seed "$SEED" --crop "$CROP"

echo "== export: $DATA/model-$NAME"
$PY training/export.py --run "$DATA/run-$NAME" --out "$DATA/model-$NAME"

echo "== quantize: $DATA/model-$NAME/encoder-int8.onnx"
$PY training/quantize.py --model "$DATA/model-$NAME" --data "$DATA/pairs-$NAME"

echo "== done. To ship it: cp $DATA/model-$NAME/{encoder,encoder-int8}.{onnx,json} $DATA/model-$NAME/golden.json models/"
