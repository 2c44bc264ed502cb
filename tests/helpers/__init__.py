"""What the tests share (importable as `helpers`: pytest puts tests/ on the path, see pyproject.toml).

- here: where the repository, the fixtures and the real corpora are, and how a command fails cleanly;
- `helpers.pipelines`: tiny pipelines trained or initialised in seconds;
- `helpers.clinical_notes`: hand-written notes with entities (no patient data);
- `helpers.converter_fuzz`: the converter fuzz harness (also run by benchmarks/fuzz_converters.py);
- `helpers.llm_server`: a local fake of an OpenAI-compatible server.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
CONFIGS = REPO / "configs"
# CI and developers have ../shared beside the checkout; a user's fresh clone does not.
SHARED_CORPORA = REPO.parent / "shared" / "corpora"


def corpus_path(*parts: str) -> Path:
    """A path under ../shared/corpora, or skip the test with the reason when it is absent."""
    path = SHARED_CORPORA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real corpus not available: {path} is absent (it is only beside developer and CI checkouts)")
    return path


def assert_clean_error(result, *fragments, code: int = 1) -> None:
    """`result` of CliRunner: exit `code`, an `error:` line on stderr containing every fragment (paths, words),
    no traceback, no 'unexpected' error (what the CLI's last line of defence says of an exception a command let
    escape)."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "error:" in result.stderr, result.output
    for fragment in fragments:
        assert str(fragment) in result.stderr, (str(fragment), result.stderr)
    assert "Traceback" not in result.output
    assert "unexpected" not in result.stderr


def invoke(*args, input=None):
    """Run the real app (`spacy-clinical-pt`) on `args` (paths as strings); exceptions propagate to the test."""
    from spacy_clinical_pt.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)
