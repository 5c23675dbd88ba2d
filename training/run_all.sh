#!/usr/bin/env bash
# Reproduce the style encoder from nothing: content -> dataset -> train -> export -> quantize.
#
#   bash training/run_all.sh            # the full run (see training/README.md for its cost)
#   bash training/run_all.sh --smoke    # a few minutes: proves the pipeline, not a model
#
# Every step resumes: content files, dataset shards and training checkpoints already written are
# kept. Sizes come from the environment: MINUTES (content), PAIRS, SETTINGS (random settings per
# effect for the presets), EPOCHS, BATCH, CROP (training crop, seconds), SEED, DATA (output root, default training/data), VENV.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=full
if [[ "${1:-}" == "--smoke" ]]; then
    NAME=smoke
    : "${MINUTES:=5}" "${PAIRS:=400}" "${SETTINGS:=200}" "${EPOCHS:=2}" "${BATCH:=16}"
fi
: "${MINUTES:=20}" "${PAIRS:=10000}" "${SETTINGS:=1000}" "${EPOCHS:=8}" "${BATCH:=32}" "${SEED:=0}" "${CROP:=1.5}"
DATA=${DATA:-training/data}
VENV=${VENV:-.venv-train}
NICE=${NICE:-10}

echo "== Debian packages (content: fluidsynth, GM soundfont, espeak-ng)"
bash scripts/setup.sh fluidsynth fluid-soundfont-gm espeak-ng

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import torch, onnx, onnxruntime" 2>/dev/null; then
    echo "== python environment ($VENV)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -r training/requirements.txt
fi
PY="nice -n $NICE $VENV/bin/python"

echo "== fxmatch (release build)"
cargo build --release --quiet
FXMATCH="${CARGO_TARGET_DIR:-target}/release/fxmatch"

echo "== content: $MINUTES minutes into $DATA/content-$NAME"
$PY training/make_content.py "$DATA/content-$NAME" --minutes "$MINUTES" --seed "$SEED"

echo "== dataset: $PAIRS pairs into $DATA/pairs-$NAME"
nice -n "$NICE" "$FXMATCH" dataset "$DATA/content-$NAME" "$DATA/pairs-$NAME" \
    --pairs "$PAIRS" --settings "$SETTINGS" --seed "$SEED"

echo "== train: $EPOCHS epochs into $DATA/run-$NAME"
$PY training/train.py --data "$DATA/pairs-$NAME" --out "$DATA/run-$NAME" --epochs "$EPOCHS" \
    --batch "$BATCH" --seed "$SEED" --crop "$CROP"

echo "== export: $DATA/model-$NAME"
$PY training/export.py --run "$DATA/run-$NAME" --out "$DATA/model-$NAME"

echo "== quantize: $DATA/model-$NAME/encoder-int8.onnx"
$PY training/quantize.py --model "$DATA/model-$NAME" --data "$DATA/pairs-$NAME"

echo "== done. To ship it: cp $DATA/model-$NAME/{encoder,encoder-int8}.{onnx,json} $DATA/model-$NAME/golden.json models/"
