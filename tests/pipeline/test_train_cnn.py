"""`spacy train configs/cnn.cfg` end to end on a dozen hand-written notes, in IO, BIO and BIOE, and
`configs/cnn_tagger_spancat.cfg` (the BIOE tagger proposing, spancat deciding).

The losses go down, the pipeline is saved, and a fresh Python process that never imports spacy_clinical_pt
loads it through the entry points and predicts the same spans as the trained pipeline in memory.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from helpers.clinical_notes import NOTES, note_records
from spacy_clinical_pt.corpus import ConversionReport, build_docs
from spacy_clinical_pt.tokenizer import clinical_nlp

REPO = Path(__file__).resolve().parents[2]
# run name -> (config, tagger scheme, training steps). The two-stage run learns two components on one tok2vec.
RUNS = {
    "IO": ("cnn.cfg", "IO", 50),
    "BIO": ("cnn.cfg", "BIO", 50),
    "BIOE": ("cnn.cfg", "BIOE", 50),
    "tagger_spancat": ("cnn_tagger_spancat.cfg", "BIOE", 80),
}

@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    report = ConversionReport()
    docs = list(build_docs(clinical_nlp(), note_records(), report))
    assert report.entities == sum(len(e) for _, e in NOTES)
    DocBin(docs=docs).to_disk(folder / "train.spacy")
    DocBin(docs=docs[:4]).to_disk(folder / "dev.spacy")
    return folder


class Recorder:
    """A training logger that keeps the pipeline and each evaluation window's losses (component -> loss)."""

    nlp = None
    losses: list = []

    def __call__(self, nlp, stdout=sys.stdout, stderr=sys.stderr):
        Recorder.nlp, Recorder.losses = nlp, []

        def log_step(info):
            if info is not None:
                Recorder.losses.append(dict(info["losses"]))

        return log_step, lambda: None


spacy.registry.loggers.register("test_clinical_pt.recorder.v1", func=lambda: Recorder())

LOAD_AND_PREDICT = """
import json, sys, spacy
assert "spacy_clinical_pt" not in sys.modules
texts = json.loads(sys.argv[1])
out = {}
for path in sys.argv[2:]:
    nlp = spacy.load(path)
    out[path] = [[[s.start, s.end, s.label_] for s in doc.spans["sc"]] for doc in nlp.pipe(texts)]
print(json.dumps(out))
"""
TEXTS = [text for text, _ in NOTES] + ["Paciente com dor no peito e febre.", ""]


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    """Train each of RUNS: {run: (saved pipeline, losses per window, spans predicted)}."""
    from spacy.cli.train import train

    results = {}
    for run, (config, scheme, steps) in RUNS.items():
        output = tmp_path_factory.mktemp(f"model_{run}")
        overrides = {
            "paths.train": str(corpus / "train.spacy"),
            "paths.dev": str(corpus / "dev.spacy"),
            "components.clinical_tagger.scheme": scheme,
            # a narrower, shallower CNN keeps the test fast; everything else is the shipped config
            "components.tok2vec.model.encode.width": 48,
            "components.tok2vec.model.encode.depth": 2,
            "training.max_steps": steps,
            "training.eval_frequency": 10,
            "training.logger": {"@loggers": "test_clinical_pt.recorder.v1"},
        }
        train(REPO / "configs" / config, output, overrides=overrides)
        assert Recorder.nlp.get_pipe("clinical_tagger").scheme == scheme
        expected = [[[s.start, s.end, s.label_] for s in doc.spans["sc"]] for doc in Recorder.nlp.pipe(TEXTS)]
        results[run] = (output / "model-last", list(Recorder.losses), expected)
    return results


@pytest.mark.slow
@pytest.mark.parametrize("run", RUNS)
def test_loss_goes_down_and_pipeline_is_saved(trained, run):
    saved, losses, expected = trained[run]
    assert len(losses) >= 5
    trainable = ["clinical_tagger", "spancat"] if run == "tagger_spancat" else ["clinical_tagger"]
    for component in trainable:
        # window 0 is the single step before the first evaluation
        assert losses[-1][component] < 0.5 * losses[1][component], (component, losses)
    assert any(expected), "the trained pipeline predicts no span at all"
    assert (saved / "clinical_tagger" / "cfg").exists() and (saved / "config.cfg").exists()


@pytest.mark.slow
def test_two_stage_pipeline_outputs_spancat_decisions_on_the_tagger_proposals(trained):
    nlp = spacy.load(trained["tagger_spancat"][0])
    assert nlp.pipe_names == ["tok2vec", "clinical_tagger", "spancat"]
    spancat = nlp.get_pipe("spancat")
    for doc in nlp.pipe(TEXTS):
        proposed = {tuple(pair) for pair in spancat.suggester([doc], ops=spancat.model.ops).dataXd.tolist()}
        assert {(s.start, s.end) for s in doc.spans["sc"]} <= proposed
        assert len(doc.spans["sc"].attrs.get("scores", [])) == len(doc.spans["sc"])  # none without candidates


@pytest.mark.slow
def test_saved_pipelines_reload_through_entry_points_with_the_same_spans(trained):
    paths = [str(trained[run][0]) for run in RUNS]
    result = subprocess.run(
        [sys.executable, "-c", LOAD_AND_PREDICT, json.dumps(TEXTS), *paths], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    reloaded = json.loads(result.stdout.strip().splitlines()[-1])
    for run, path in zip(RUNS, paths):
        assert reloaded[path] == trained[run][2], run
