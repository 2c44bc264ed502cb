"""Tiny pipelines for the tests: a CNN pipeline trained on the hand-written notes, an untrained tagger."""

from pathlib import Path

from spacy.tokens import DocBin

from spacy_clinical_pt.corpus import ConversionReport, Entity, Record, build_docs
from spacy_clinical_pt.tokenizer import clinical_nlp

from . import CONFIGS
from .clinical_notes import NOTES, note_records

CNN_CONFIG = CONFIGS / "cnn.cfg"

# A note with nested entities that the tiny pipeline learns to find (it is one of its training notes).
NESTED_NOTE = NOTES[0][0]


def train_tiny_pipeline(folder: Path, steps: int = 300, config: Path = CNN_CONFIG) -> Path:
    """Train `config` (default `configs/cnn.cfg`; narrowed) on NOTES in `folder`; RETURNS the saved pipeline
    (model-last)."""
    from spacy.cli.train import train

    docs = list(build_docs(clinical_nlp(), note_records(), ConversionReport()))
    DocBin(docs=docs).to_disk(folder / "train.spacy")
    DocBin(docs=docs[:4]).to_disk(folder / "dev.spacy")
    overrides = {
        "paths.train": str(folder / "train.spacy"),
        "paths.dev": str(folder / "dev.spacy"),
        "components.tok2vec.model.encode.width": 48,
        "components.tok2vec.model.encode.depth": 2,
        "training.max_steps": steps,
        "training.eval_frequency": 100,
        "training.patience": 0,
    }
    train(config, folder / "model", overrides=overrides)
    return folder / "model" / "model-last"


def untrained_pipeline(folder: Path) -> Path:
    """Write a DocBin of 4 notes (`good.spacy`) and a pipeline with a clinical_tagger initialised on them, not
    trained (`pipeline/`, seconds to make) into `folder`; RETURNS the pipeline folder."""
    from spacy.training import Example

    nlp = clinical_nlp()
    records = [Record(f"d{i}", "Dor no peito e febre.", [Entity(0, 12, "Problema"), Entity(15, 20, "Teste")])
               for i in range(4)]
    docs = list(build_docs(nlp, records, ConversionReport()))
    DocBin(store_user_data=True, docs=docs).to_disk(folder / "good.spacy")
    nlp.add_pipe("clinical_tagger")
    nlp.initialize(lambda: [Example(nlp.make_doc(doc.text), doc) for doc in docs])
    nlp.to_disk(folder / "pipeline")
    return folder / "pipeline"


def overlapping(spans) -> bool:
    """Whether any two of `spans` ((start, end, ...) tuples) overlap."""
    ordered = sorted(spans)
    return any(b[0] < a[1] for a, b in zip(ordered, ordered[1:]))
