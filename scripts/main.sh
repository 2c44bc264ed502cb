#!/usr/bin/env bash
# The main job (README command 1), offline default: set up .venv, obtain the corpora (a local copy in
# ../shared/corpora when there is one, else `weasel assets` from the upstream repositories), then run the
# `offline` workflow of project.yml. A second run reuses what is up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
LOCAL_CORPORA=${LOCAL_CORPORA:-../shared/corpora}
if [ -d "$LOCAL_CORPORA/nestedclinbr" ] && [ -d "$LOCAL_CORPORA/er_ner" ]; then
  echo "[main] using the local corpora in $LOCAL_CORPORA"
  weasel run link-corpora . --vars.local_corpora "$LOCAL_CORPORA"
else
  echo "[main] no local corpora in $LOCAL_CORPORA: fetching them from their upstream repositories"
  weasel assets .
fi
weasel run offline .
