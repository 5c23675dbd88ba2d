# Shared by training/run_all.sh and training/run_predictors.sh (source it from the repository's
# root): the training venv, fxmatch's release binary, and the content and pairs steps both take
# (the same folders, so one command makes them).

# ensure_venv VENV: make the venv VENV with training/requirements.txt unless its python already
# imports torch, onnx and onnxruntime.
ensure_venv() {
    if [[ ! -x "$1/bin/python" ]] || ! "$1/bin/python" -c "import torch, onnx, onnxruntime" 2>/dev/null; then
        echo "== python environment ($1)"
        python3 -m venv "$1"
        "$1/bin/pip" install -r training/requirements.txt
    fi
}

# build_fxmatch: build fxmatch in release and set FXMATCH to its path.
build_fxmatch() {
    echo "== fxmatch (release build)"
    cargo build --release --quiet
    FXMATCH="${CARGO_TARGET_DIR:-target}/release/fxmatch"
}

# real_content OUT MINUTES HELD_OUT_MINUTES SEED: the recorded content (make_real_content.py,
# training/README.md step 2b) into OUT, keeping what is already there; runs under $PY.
real_content() {
    echo "== content: $2 + $3 (held-out) minutes of recordings into $1"
    $PY training/make_real_content.py "$1" --minutes "$2" --held-out-minutes "$3" --seed "$4"
}

# encoder_pairs CONTENT OUT PAIRS SETTINGS SEED: the encoder's training pairs (`fxmatch dataset`,
# which the VAE trains on too) into OUT, keeping the shards already written; after build_fxmatch.
encoder_pairs() {
    echo "== dataset: $3 pairs into $2"
    nice -n "$NICE" "$FXMATCH" dataset "$1" "$2" --pairs "$3" --settings "$4" --seed "$5"
}
