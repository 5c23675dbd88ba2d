#!/usr/bin/env bash
# Reproduce the second seed's models from nothing (issue 19): the spectrogram beta-VAE
# (models/vae/), the default chain's one-pass predictor (models/predictor/default.*) and the mda-lv2
# chain's (models/predictor/mda.*), each by the recipe its model card gives (models/README.md).
#
#   bash training/run_predictors.sh            # the full run (about 20 minutes on 2 cores, new content not counted)
#   bash training/run_predictors.sh --smoke    # a few minutes: proves the pipeline, not a model
#
# The steps, all on the recorded content of training/make_real_content.py (CONTENT=real of
# run_all.sh, shared with it: the same content and pairs folders):
#   content -> pairs (fxmatch dataset) -> VAE (train, export)
#   -> default chain: dataset -> train -> spsa (through the chain) -> sox references -> calibrate -> export
#   -> mda-lv2 chain: dataset (with style statistics) -> train -> export
# The predictors read the VAE this run trains (their sidecars name it by sha256), and the default
# chain's predictor also reads the shipped real-content encoder (models/real/encoder.onnx, built
# into the binary; run_all.sh remakes that one). VAE=PATH (a vae.onnx) skips the VAE's training and
# has the predictors read that one instead, e.g. VAE=models/vae/vae.onnx to remake the predictors
# for the VAE that ships.
#
# Every step resumes: a step whose output is complete is skipped, so a stopped run goes on where it
# stopped. Outputs under DATA (default training/data): content-real-NAME, pairs-real-NAME,
# vae-run-NAME, model-vae-NAME, predict-default-NAME, predictor-run-default-NAME,
# predictor-spsa-default-NAME, project-nofit-NAME, predictor-calib-default-NAME,
# predict-mda-NAME, predictor-run-mda-NAME and model-predictor-NAME (NAME: full or smoke).
# Other environment: SEED (content and pairs, 0), NICE (10), VENV (.venv-train), THREADS (render
# threads, 2). The seeds of the later steps are the recipe's and fixed here.
set -euo pipefail
cd "$(dirname "$0")/.."
source training/common.sh

NAME=full
SMOKE=0
if [[ "${1:-}" == "--smoke" ]]; then
    NAME=smoke
    SMOKE=1
elif [[ -n "${1:-}" ]]; then
    echo "run_predictors.sh: unknown argument '$1' (the only one is --smoke)" >&2
    exit 2
fi
DATA=${DATA:-training/data}
VENV=${VENV:-.venv-train}
NICE=${NICE:-10}
SEED=${SEED:-0}
THREADS=${THREADS:-2}

# Sizes: the recipe's (models/README.md), or a smoke run's.
if (( SMOKE )); then
    MINUTES=5 HELD_OUT_MINUTES=2 PAIRS=400 SETTINGS=200
    VAE_STEPS=20 VAE_BATCH=4 VAE_VAL_CLIPS=16
    DEFAULT_N=200 DEFAULT_EPOCHS=5 SPSA_EPOCHS=1 SPSA_EXAMPLES=40 SPSA_VAL=20
    PROJECT_N=60 CALIBRATE_EXAMPLES=30 MDA_N=200 MDA_EPOCHS=5
else
    MINUTES=80 HELD_OUT_MINUTES=18 PAIRS=10000 SETTINGS=1000
    VAE_STEPS=250 VAE_BATCH=16 VAE_VAL_CLIPS=128
    DEFAULT_N=2000 DEFAULT_EPOCHS=150 SPSA_EPOCHS=6 SPSA_EXAMPLES=1000 SPSA_VAL=150
    PROJECT_N=600 CALIBRATE_EXAMPLES=300 MDA_N=20000 MDA_EPOCHS=60
fi

echo "== Debian packages (recorded content, its decoders, the mda-lv2 plugins, sox)"
bash scripts/setup.sh $(python3 training/make_real_content.py --packages)

ensure_venv "$VENV"
PY="nice -n $NICE $VENV/bin/python"

build_fxmatch
FX="nice -n $NICE $FXMATCH"

CONTENT_DIR="$DATA/content-real-$NAME"
TRAIN_CONTENT="$CONTENT_DIR/train"   # held-out/ stays out of every training step
PAIRS_DIR="$DATA/pairs-real-$NAME"
ENCODER=models/real/encoder.onnx
DEFAULT_CHAIN=config/chains/default.toml
MDA_CHAIN=config/chains/mda.toml
OUT="$DATA/model-predictor-$NAME"

# done_already WHAT DONE_FILE: true (and says the step is skipped) when DONE_FILE, which the step
# writes last, exists; else announces the step.
done_already() {
    if [[ -e "$2" ]]; then
        echo "== $1: done ($2 exists)"
        return 0
    fi
    echo "== $1"
    return 1
}

real_content "$CONTENT_DIR" "$MINUTES" "$HELD_OUT_MINUTES" "$SEED"
encoder_pairs "$TRAIN_CONTENT" "$PAIRS_DIR" "$PAIRS" "$SETTINGS" "$SEED"   # the VAE's training clips

if [[ -n "${VAE:-}" ]]; then
    [[ -f "$VAE" ]] || { echo "run_predictors.sh: VAE=$VAE is not a file (give a vae.onnx)" >&2; exit 2; }
    echo "== VAE: $VAE (given; not trained)"
else
    VAE_RUN="$DATA/vae-run-$NAME"
    VAE_DIR="$DATA/model-vae-$NAME"
    VAE="$VAE_DIR/vae.onnx"
    # train resumes from its checkpoint and ends at once when all its steps are done.
    echo "== VAE: train $VAE_STEPS steps into $VAE_RUN"
    $PY training/vae.py train --data "$PAIRS_DIR" --out "$VAE_RUN" --steps "$VAE_STEPS" --cycles 1 \
        --batch "$VAE_BATCH" --val-clips "$VAE_VAL_CLIPS" --seed 0
    echo "== VAE: export into $VAE_DIR"
    $PY training/vae.py export --run "$VAE_RUN" --out "$VAE_DIR"
fi

# The default chain: examples through the chain, the parameter loss, SPSA through the chain, the
# pull toward neutral chosen on sox references of the training content, export.
D="$DATA/predict-default-$NAME"
done_already "default chain: $DEFAULT_N examples into $D" "$D/predict-dataset.json" ||
    $FX predictor dataset "$TRAIN_CONTENT" "$D" --chain "$DEFAULT_CHAIN" --n "$DEFAULT_N" \
        --threads "$THREADS" --no-stats --encoder "$ENCODER" --vae "$VAE"
RUN="$DATA/predictor-run-default-$NAME"
done_already "default chain: train into $RUN" "$RUN/checkpoint.pt" ||
    $PY training/predictor.py train --data "$D" --out "$RUN" --epochs "$DEFAULT_EPOCHS" --seed 0
SPSA="$DATA/predictor-spsa-default-$NAME"
done_already "default chain: spsa through the chain into $SPSA" "$SPSA/checkpoint.pt" ||
    $PY training/predictor.py spsa --data "$D" --content "$TRAIN_CONTENT" --chain "$DEFAULT_CHAIN" \
        --init "$RUN" --out "$SPSA" --epochs "$SPSA_EPOCHS" --epoch-examples "$SPSA_EXAMPLES" \
        --val-examples "$SPSA_VAL" --render-threads "$THREADS" --fxmatch "$FXMATCH" --seed 1
PROJ="$DATA/project-nofit-$NAME"
done_already "default chain: $PROJECT_N sox references into $PROJ" "$PROJ/predict-dataset.json" ||
    $FX predictor project "$TRAIN_CONTENT" "$PROJ" --chain "$DEFAULT_CHAIN" --n "$PROJECT_N" \
        --fit-evaluations 1 --seed 21 --threads "$THREADS" --no-stats --encoder "$ENCODER" --vae "$VAE"
CALIB="$DATA/predictor-calib-default-$NAME"
done_already "default chain: calibrate the pull toward neutral into $CALIB" "$CALIB/checkpoint.pt" ||
    $PY training/predictor.py calibrate --run "$SPSA" --data "$PROJ" --content "$TRAIN_CONTENT" \
        --chain "$DEFAULT_CHAIN" --out "$CALIB" --examples "$CALIBRATE_EXAMPLES" \
        --render-threads "$THREADS" --fxmatch "$FXMATCH"
echo "== default chain: export into $OUT"
$PY training/predictor.py export --run "$CALIB" --out "$OUT" --name default

# The mda-lv2 chain: examples through the real plugins (with the style statistics), the parameter
# loss, export.
M="$DATA/predict-mda-$NAME"
done_already "mda-lv2 chain: $MDA_N examples into $M" "$M/predict-dataset.json" ||
    $FX predictor dataset "$TRAIN_CONTENT" "$M" --chain "$MDA_CHAIN" --n "$MDA_N" \
        --threads "$THREADS" --vae "$VAE"
MRUN="$DATA/predictor-run-mda-$NAME"
done_already "mda-lv2 chain: train into $MRUN" "$MRUN/checkpoint.pt" ||
    $PY training/predictor.py train --data "$M" --out "$MRUN" --epochs "$MDA_EPOCHS" --seed 0
echo "== mda-lv2 chain: export into $OUT"
$PY training/predictor.py export --run "$MRUN" --out "$OUT" --name mda

VAE_SHA=$(sha256sum "$VAE" | cut -d' ' -f1)
for name in default mda; do
    grep -q "\"vae_sha256\": *\"$VAE_SHA\"" "$OUT/$name.json" || {
        echo "run_predictors.sh: $OUT/$name.json does not name the VAE $VAE ($VAE_SHA)" >&2
        exit 1
    }
done
echo "== done: $OUT/{default,mda}.{onnx,json,golden.json} read the VAE $VAE (sha256 $VAE_SHA)."
if [[ "${VAE_DIR:-}" != "" ]]; then
    echo "   To ship them: cp $VAE_DIR/{vae.onnx,vae.json,golden.json} models/vae/ &&" \
        "cp $OUT/{default,mda}.{onnx,json,golden.json} models/predictor/ &&" \
        "cargo test --release --test vae --test predictor (the binary builds them in)"
else
    echo "   To ship them: cp $OUT/{default,mda}.{onnx,json,golden.json} models/predictor/ &&" \
        "cargo test --release --test predictor (the binary builds them in)"
fi
