"""Shared test fixtures: where the real corpora are, a clinical-tokenizer `nlp`, and how a command fails cleanly."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
# CI and developers have ../shared beside the checkout; a user's fresh clone does not.
SHARED_CORPORA = REPO.parent / "shared" / "corpora"


def corpus_path(*parts: str) -> Path:
    """A path under ../shared/corpora, or skip the test with the reason when it is absent."""
    path = SHARED_CORPORA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real corpus not available: {path} is absent (it is only beside developer and CI checkouts)")
    return path


def assert_clean_error(result, *fragments):
    """Exit 1 with an `error:` line naming what was wrong, and no traceback."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "error: " in result.output and "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


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
