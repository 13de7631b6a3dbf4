#!/usr/bin/env bash
# Set-up on a fresh machine: a virtual environment in .venv with the CPU build of PyTorch, this
# package and its test extras, then the model caches in .cache/ (built once; later runs are quick).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# torch first and pinned: anything that depends on torch would otherwise pull the CUDA build
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[test]"
.venv/bin/josh setup
