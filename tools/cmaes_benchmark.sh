#!/bin/sh
# fxmatch's CMA-ES against pycma on all reference cases, including the slow ones
# (100-D ellipsoid, 50-D Rosenbrock) that the default `cargo test` skips. Prints one row per
# case: pycma's and our median evaluations to f <= 1e-8, their ratio and our per-seed counts.
# Takes a few minutes on 2 cores (release build).
#
# The reference data come from `tools/pycma_reference.py` (tests/data/pycma_reference.json).
set -eu
cd "$(dirname "$0")/.."
exec cargo test --release --test cmaes_vs_pycma -- --include-ignored --nocapture --test-threads 1 "$@"
