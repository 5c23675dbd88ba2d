# Shared by training/run_all.sh and training/run_predictors.sh (source it from the repository's
# root): the training venv and fxmatch's release binary.

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
