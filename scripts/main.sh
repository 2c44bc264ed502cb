#!/usr/bin/env bash
# The main job (README command 1), offline default, from a fresh clone:
#   1. set up .venv (scripts/setup.sh);
#   2. obtain NestedClinBr (and ER_NER): the local copy in ../shared/corpora (or $LOCAL_CORPORA) when there is
#      one, else clone the upstream repositories at the pinned commits (`weasel run fetch-corpora`);
#   3. the `offline` workflow of project.yml: convert, stats, split, train the CNN pipeline, evaluate on the test
#      notes (threshold chosen on dev), tabulate, build the `pt_clinical_cnn` wheel and install it into .venv;
#   4. print the evaluation table;
#   5. in a new process, load `pt_clinical_cnn` BY NAME and annotate an example note: print its entities with
#      their assertion (the packaged `clinical_context`: "Nega febre." -> febre absent) and write an HTML
#      visualisation (displaCy spans, negated entities in grey) to metrics/demo/example_note.html.
# A second run reuses what is up to date (weasel compares the deps and outputs of each step).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
LOCAL_CORPORA=${LOCAL_CORPORA:-../shared/corpora}
if [ -d "$LOCAL_CORPORA/nestedclinbr" ] && [ -d "$LOCAL_CORPORA/er_ner" ]; then
  echo "[main] using the local corpora in $LOCAL_CORPORA"
  weasel run link-corpora . --vars.local_corpora "$LOCAL_CORPORA"
else
  echo "[main] no local corpora in $LOCAL_CORPORA: cloning them from upstream at the pinned commits"
  weasel run fetch-corpora .
fi
weasel run offline .

echo
echo "[main] evaluation of the CNN pipeline on the NestedClinBr test notes (metrics/nestedclinbr/cnn_BIOE/report.md):"
cat metrics/nestedclinbr/cnn_BIOE/report.md
echo
cat metrics/tables/nestedclinbr/cnn_BIOE/aggregate.md

echo
echo "[main] spacy.load(\"pt_clinical_cnn\") in a new process, on an example note (hand-written, no patient data):"
python -c "import spacy, pt_clinical_cnn; print('[main] loaded', pt_clinical_cnn.__name__, 'from', pt_clinical_cnn.__file__)"
mkdir -p metrics/demo
python -m spacy_clinical_pt annotate pt_clinical_cnn - --format html --output metrics/demo/example_note.html --show --overwrite <<'NOTE'
Paciente feminina, 58 anos, hipertensa e diabética, em uso de losartana 50 mg e metformina 850 mg.
Refere dor torácica em aperto há duas horas, com irradiação para membro superior esquerdo. Nega febre.
Ao exame: edema em membros inferiores. ECG com supradesnivelamento do segmento ST em parede inferior.
Troponina elevada. Solicitado ecocardiograma transtorácico. Iniciado AAS e clopidogrel.
NOTE
python - <<'PY'
import spacy

nlp = spacy.load("pt_clinical_cnn")
doc = nlp("Nega febre. Refere dor torácica em aperto há duas horas.")
print("[main] assertion (clinical_context):", ", ".join(f"{s.text!r} {s._.assertion}" for s in doc.spans["sc"]) or "no entities")
PY
echo "[main] open metrics/demo/example_note.html to see the entities (nested ones drawn one above the other, negated ones in grey)"
echo "[main] wheel: $(ls -l packages/pt_clinical_cnn-0.1.0/dist/*.whl | awk '{print $5, $9}') bytes"
echo "[main] done in $(( $(date +%s) - started )) s"
