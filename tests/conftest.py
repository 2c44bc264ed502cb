"""Shared fixtures: where the real corpora are and a clinical-tokenizer `nlp` (helpers: the `helpers` package)."""

from pathlib import Path

import pytest

from helpers import corpus_path


@pytest.fixture
def nestedclinbr_dir() -> Path:
    return corpus_path("nestedclinbr")


@pytest.fixture
def er_ner_dir() -> Path:
    return corpus_path("er_ner")


@pytest.fixture(scope="session")
def nlp():
    from spacy_clinical_pt.tokenizer import clinical_nlp

    return clinical_nlp()
