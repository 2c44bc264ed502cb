#!/usr/bin/env bash
# Create .venv when missing and install the package with what it needs. Idempotent: a second run
# with an unchanged pyproject.toml installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment in $VENV"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.spacy-clinical-pt-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # torch first, pinned: the CPU build of this release is on local disk; an unpinned torch pulls a
  # CUDA build of several GB.
  "$VENV/bin/python" -m pip install --quiet "torch==2.13.0"
  "$VENV/bin/python" -m pip install --quiet -e ".[dev]"
  rm -f "$VENV"/.spacy-clinical-pt-* && touch "$stamp"
  echo "[setup] installed spacy-clinical-pt into $VENV"
fi
