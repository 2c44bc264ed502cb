"""`configs/transformer.cfg` end to end on tiny encoders of the real architectures, and the encoder table.

`spacy train` runs the real config for the mmBERT setting (a tiny `ModernBertModel`) and the BioBERTpt setting
(a tiny `BertModel`), only the model folder and the step count overridden: the loss goes down, the pipeline
saves, reloads in a fresh process (entry points only) and predicts the same. A 3,000-word note runs through the
trained pipeline: every token is in a window, gets wordpieces and a prediction, and no window is truncated.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.tokens import DocBin
from spacy_transformers.span_getters import get_strided_spans
from spacy_clinical_pt.tiny_models import CLINICAL_SENTENCES, tiny_model_dir

from spacy_clinical_pt.encoders import ENCODERS, encoder_key, minilm_path, pipeline_package_name, resolve_encoder

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "transformer.cfg"
TRAIN_STEPS = 30
# Entities of the hand-written sentences, by label (found by exact string match).
ENTITIES = {
    "Problema": ["dor torácica", "dispneia", "febre", "tosse", "náuseas", "edema", "fratura", "psoríase",
                 "apendicite aguda", "cefaleia", "disúria", "insuficiência renal crônica", "leucocitose"],
    "Anatomia": ["membros inferiores", "base direita", "parede inferior", "crânio", "rádio distal",
                 "membrana timpânica esquerda", "cotovelos", "joelhos", "lobo superior esquerdo",
                 "fossa ilíaca direita"],
    "Medicamento": ["losartana", "metformina", "clopidogrel", "heparina", "amoxicilina", "nitrofurantoína", "AAS"],
}
LOSSES: list[float] = []


@spacy.registry.loggers("spacy_clinical_pt.tests.loss_recorder.v1")
def loss_recorder(progress_bar: bool = False):
    """A training logger that keeps the `clinical_tagger` loss of every step (the config evaluates every step,
    so spaCy resets the accumulated losses after each one)."""

    def setup(nlp, stdout=sys.stdout, stderr=sys.stderr):
        def log_step(info):
            if info is not None and "clinical_tagger" in info["losses"]:
                LOSSES.append(float(info["losses"]["clinical_tagger"]))

        return log_step, lambda: None

    return setup


def synthetic_note(rng: random.Random, n_sentences: int) -> str:
    return " ".join(rng.choice(CLINICAL_SENTENCES) for _ in range(n_sentences))


def annotate(nlp, text: str):
    """A doc of `text` with its entities (every occurrence, any case) in `doc.spans["sc"]`."""
    doc = nlp.make_doc(text)
    lowered = text.lower()
    spans = []
    for label, phrases in ENTITIES.items():
        for phrase in phrases:
            start = lowered.find(phrase.lower())
            while start >= 0:
                span = doc.char_span(start, start + len(phrase), label=label)
                if span is not None:
                    spans.append(span)
                start = lowered.find(phrase.lower(), start + 1)
    doc.spans["sc"] = spans
    return doc


@pytest.fixture(scope="module")
def corpus(nlp, tmp_path_factory):
    """Train (8 notes) and dev (2 notes) DocBins of synthetic notes with nested-free entities of 3 labels."""
    folder = tmp_path_factory.mktemp("tiny-corpus")
    rng = random.Random(0)
    for name, n_docs in (("train", 8), ("dev", 2)):
        docs = [annotate(nlp, synthetic_note(rng, rng.randint(4, 8))) for _ in range(n_docs)]
        DocBin(docs=docs, store_user_data=True).to_disk(folder / f"{name}.spacy")
    return folder / "train.spacy", folder / "dev.spacy"


def train_tiny(kind: str, corpus, output: Path) -> list[float]:
    """`spacy train configs/transformer.cfg` on the tiny `kind` model; RETURNS the loss of every step."""
    from spacy.cli.train import train

    train_path, dev_path = corpus
    LOSSES.clear()
    train(
        CONFIG,
        output,
        overrides={
            "paths.train": str(train_path),
            "paths.dev": str(dev_path),
            "components.transformer.model.name": str(tiny_model_dir(kind)),
            "training.max_steps": TRAIN_STEPS,
            "training.eval_frequency": 1,
            "training.patience": 0,
            "training.dropout": 0.0,
            # A randomly initialised encoder needs a larger rate than fine-tuning to move in 30 steps.
            "training.optimizer.learn_rate.initial_rate": 1e-3,
            "training.optimizer.learn_rate.warmup_steps": 2,
            "training.logger.@loggers": "spacy_clinical_pt.tests.loss_recorder.v1",
        },
    )
    return list(LOSSES)


@pytest.fixture(scope="module", params=["mmbert", "bert"])
def trained(request, corpus, tmp_path_factory):
    """(kind, pipeline folder, per-step losses) after training the transformer config on a tiny model."""
    output = tmp_path_factory.mktemp(f"trained-{request.param}")
    losses = train_tiny(request.param, corpus, output)
    return request.param, output / "model-last", losses


def long_note(n_words: int, seed: int = 0) -> str:
    """A note of about `n_words` words: the clinical sentences, with made-up words that split into many pieces."""
    rng = random.Random(seed)
    words: list[str] = []
    while len(words) < n_words:
        words.extend(rng.choice(CLINICAL_SENTENCES).split())
        words.append("".join(rng.choice("bcdfghlmnprstvxz") for _ in range(rng.randint(6, 12))))
    return " ".join(words[:n_words])


def predictions(nlp, texts):
    """Per text: the probability matrix and the decoded (start, end, label) spans."""
    out = []
    for doc in nlp.pipe(texts):
        out.append((doc._.clinical_probs, sorted((s.start, s.end, s.label_) for s in doc.spans["sc"])))
    return out


@pytest.mark.slow
def test_training_lowers_the_loss_and_the_pipeline_reloads_the_same(trained, corpus, tmp_path):
    kind, model_dir, losses = trained
    assert len(losses) >= TRAIN_STEPS
    first, last = numpy.mean(losses[:5]), numpy.mean(losses[-5:])
    print(f"{kind}: loss of the first 5 steps {first:.4f}, of the last 5 {last:.4f}")
    assert last < 0.85 * first, f"{kind}: loss went from {first:.4f} to {last:.4f}"

    nlp = spacy.load(model_dir)
    assert nlp.pipe_names == ["transformer", "clinical_tagger"]
    architecture = type(nlp.get_pipe("transformer").model.transformer).__name__
    assert architecture == {"mmbert": "ModernBertModel", "bert": "BertModel"}[kind]
    tokenizer = nlp.get_pipe("transformer").model.tokenizer
    assert "token_type_ids" not in tokenizer("dor torácica")  # the config's model_input_names survived saving
    texts = [synthetic_note(random.Random(7), 6), "Paciente nega febre e dispneia."]
    here = predictions(nlp, texts)

    # A fresh process finds every registered function through entry points only (no test-module imports).
    script = (
        "import json, sys, spacy\n"
        "nlp = spacy.load(sys.argv[1])\n"
        "texts = json.loads(sys.argv[2])\n"
        "out = [[doc._.clinical_probs.tolist(), sorted([s.start, s.end, s.label_] for s in doc.spans['sc'])]"
        " for doc in nlp.pipe(texts)]\n"
        "print(json.dumps(out))\n"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-c", script, str(model_dir), json.dumps(texts)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    there = json.loads(result.stdout.strip().splitlines()[-1])
    for (probs, spans), (probs2, spans2) in zip(here, there):
        numpy.testing.assert_allclose(probs, numpy.asarray(probs2, dtype="float32"), rtol=1e-4, atol=1e-5)
        assert spans == [tuple(s) for s in spans2]


@pytest.mark.slow
def test_a_3000_word_note_is_fully_covered(trained):
    kind, model_dir, _ = trained
    nlp = spacy.load(model_dir)
    text = long_note(3000)
    doc = nlp(text)
    n_columns = len(nlp.get_pipe("clinical_tagger").columns)
    assert doc._.clinical_probs.shape == (len(doc), n_columns)
    assert numpy.isfinite(doc._.clinical_probs).all()

    trf_data = doc._.trf_data
    tokenizer = nlp.get_pipe("transformer").model.tokenizer
    windows = nlp.get_pipe("transformer").model.attrs["get_spans"]([doc])[0]
    assert len(windows) == len(trf_data.wordpieces.lengths) > 10  # a long note, many windows
    covered = set()
    for window in windows:
        covered.update(range(window.start, window.end))
        # Nothing truncated: each window's wordpieces in the batch are all of its wordpieces.
        assert len(tokenizer(window.text)["input_ids"]) <= 512
    assert covered == set(range(len(doc)))
    lengths = trf_data.wordpieces.lengths
    # The budget binds (windows are filled near 512 positions), where token-counted windows would overflow it.
    assert 480 < max(lengths) <= 512
    getter = nlp.get_pipe("transformer").model.attrs["get_spans"]
    strided = get_strided_spans([doc], window=getter.window, stride=getter.stride)[0]
    assert max(len(tokenizer(w.text)["input_ids"]) for w in strided) > 512
    pieces_per_token = trf_data.align.lengths
    assert len(pieces_per_token) == len(doc)
    missing = [t.i for t in doc if not t.is_space and pieces_per_token[t.i] == 0]
    assert missing == [], f"tokens without wordpieces: {missing[:10]}"
    # The last tokens of the note, where truncation would strike first, have their wordpieces.
    assert all(pieces_per_token[t.i] > 0 for t in doc[-20:] if not t.is_space)


@pytest.mark.slow
def test_a_loaded_pipeline_counts_with_its_own_tokenizer_offline(trained, caplog, tmp_path):
    """The span getter counts with the tokenizer saved in the pipeline, not by the encoder's name: a pipeline
    installed where that name cannot be loaded (offline, no hub cache) windows a note exactly as where it was
    trained, with no fallback to the byte bound."""
    import logging

    kind, model_dir, _ = trained
    text = long_note(600, seed=2)
    here = spacy.load(model_dir)
    windows = [(w.start, w.end) for w in here.get_pipe("transformer").model.attrs["get_spans"]([here(text)])[0]]
    unreachable = {"components": {"transformer": {"model": {"get_spans": {"tokenizer": str(tmp_path / "hub")}}}}}
    with caplog.at_level(logging.WARNING, logger="spacy_clinical_pt.span_getters"):
        offline = spacy.load(model_dir, config=unreachable)
        doc = offline(text)
    getter = offline.get_pipe("transformer").model.attrs["get_spans"]
    assert getter.tokenizer_name == str(tmp_path / "hub")
    assert getter.tokenizer is offline.get_pipe("transformer").model.tokenizer
    assert "byte bound" not in caplog.text
    assert [(w.start, w.end) for w in getter([doc])[0]] == windows
    # The byte bound would have cut this note into more, smaller windows.
    unbound = type(getter)(getter.window, getter.stride, getter.max_wordpieces, tokenizer=None)
    assert len(unbound([doc])[0]) > len(windows)


def test_encoder_table_covers_the_paper():
    paper = {
        "jhu-clsp/mmBERT-base", "jhu-clsp/mmBERT-small", "pucpr/biobertpt-all", "pucpr/biobertpt-clin",
        "pucpr/biobertpt-bio", "neuralmind/bert-base-portuguese-cased", "neuralmind/bert-large-portuguese-cased",
        "answerdotai/ModernBERT-base", "answerdotai/ModernBERT-large",
    }
    assert paper <= {e.hf_name for e in ENCODERS.values()}
    assert {"cnn", "minilm"} <= set(ENCODERS)
    assert resolve_encoder("mmBERT-base") == "jhu-clsp/mmBERT-base"
    assert resolve_encoder("biobertpt_clin") == "pucpr/biobertpt-clin"
    assert resolve_encoder("some-org/some-model") == "some-org/some-model"
    assert encoder_key("ModernBERT-large") == "modernbert_large"
    assert pipeline_package_name("mmbert-base") == "pt_clinical_mmbert"
    with pytest.raises(ValueError, match="cnn.cfg"):
        resolve_encoder("cnn")
    with pytest.raises(ValueError, match="unknown encoder"):
        resolve_encoder("gpt2-medium")


def test_minilm_resolves_to_the_installed_package_and_loads_offline():
    from transformers import AutoModel, AutoTokenizer

    path = resolve_encoder("minilm")
    assert Path(path) == minilm_path() and (minilm_path() / "config.json").is_file()
    # local_files_only: any attempt to reach the hub would raise instead of loading.
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True)
    output = model(**tokenizer(["dor torácica"], return_tensors="pt"))
    assert type(model).__name__ == "BertModel"
    assert output.last_hidden_state.shape[-1] == 384


def test_missing_minilm_names_the_extra(monkeypatch):
    import importlib.util

    from spacy_clinical_pt import encoders

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LookupError, match=r"spacy-clinical-pt\[minilm\]"):
        encoders.resolve_encoder("minilm")


def test_the_encoders_command_prints_the_name_to_pass():
    result = subprocess.run([sys.executable, "-m", "spacy_clinical_pt", "encoders", "bertimbau-large"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert result.stdout.strip() == "neuralmind/bert-large-portuguese-cased"


PAPER_OVERRIDES = {
    "training.batcher.size": 50,
    "training.accumulate_gradient": 5,
    "training.eval_frequency": 2,
    "training.patience": 10,
    "training.score_weights.spans_sc_f": 0.0,
    "training.score_weights.spans_sc_token_micro_f": 1.0,
}


@pytest.mark.parametrize("overrides,docs_per_update,sub_batch", [({}, 4, 4), (PAPER_OVERRIDES, 50, 10)])
def test_default_and_paper_regimes(nlp, overrides, docs_per_update, sub_batch):
    """Default: 4 notes per optimizer step. Paper: 10 documents x accumulation 5 = 50 per step (2 on 80 notes)."""
    from spacy.training import Example
    from spacy.training.loop import subdivide_batch
    from spacy.util import load_config, registry

    config = load_config(CONFIG, overrides={"paths.train": "t.spacy", "paths.dev": "d.spacy", **overrides})
    training = config.interpolate()["training"]
    assert training["optimizer"]["learn_rate"]["initial_rate"] == 5e-5
    resolved = registry.resolve(training)
    notes = [Example(nlp.make_doc(f"nota {i}"), nlp.make_doc(f"nota {i}")) for i in range(80)]
    batches = list(resolved["batcher"](notes))
    assert len(batches) == -(-80 // docs_per_update)  # optimizer steps per epoch on 80 notes
    assert len(batches[0]) == docs_per_update
    steps = list(subdivide_batch(batches[0], resolved["accumulate_gradient"]))
    assert {len(s) for s in steps} == {sub_batch}
    weights = resolved["score_weights"]
    assert weights["spans_sc_token_micro_f" if overrides else "spans_sc_f"] == 1.0
