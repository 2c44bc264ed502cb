"""Every command of the app, given a bad input as a new user would: a clear `error:` line naming the path, the
documented exit code, never a traceback.

The commands run through `cli.app` with `catch_exceptions=False`, so an exception a command lets escape fails the
test here instead of being caught by `cli.main`'s last line of defence (tested in test_cli.py), which would hide
it. Exit codes (README, "Exit codes"): 1 bad input, nothing written; 2 usage (typer's own); 3 partial.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import assert_clean_error, invoke
from helpers.pipelines import untrained_pipeline

REPO = Path(__file__).resolve().parents[2]
LOCAL_LLM = REPO / "configs" / "llm" / "local.cfg"
# Nothing listens on the discard port: a command that got as far as a request would fail at once, not hang.
NO_SERVER = ["--set", "components.llm.model.base_url=http://127.0.0.1:9/v1",
             "--set", "components.llm.model.max_retries=0", "--set", "components.llm.model.timeout=2"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Good and bad inputs: a DocBin, a loadable pipeline with an (untrained) clinical_tagger, a text file, a
    run folder whose metrics.json is not JSON, a missing path."""
    folder = tmp_path_factory.mktemp("cli_errors")
    untrained_pipeline(folder)
    (folder / "notes.txt").write_text("Paciente com dor no peito.\n", encoding="utf8")
    (folder / "run").mkdir()
    (folder / "run" / "metrics.json").write_text("Paciente com dor no peito.\n", encoding="utf8")
    return {
        "good": folder / "good.spacy",
        "pipeline": folder / "pipeline",
        "text": folder / "notes.txt",
        "bad_run": folder / "run",
        "missing": folder / "absent.spacy",
        "missing_dir": folder / "absent_folder",
        "out": folder / "out",
    }


# (id, arguments with {placeholders} from `inputs`, the placeholder of the bad path that the message must name)
CASES = [
    ("convert-missing-input", ["convert", "{missing}", "-o", "{out}/c.spacy", "--format", "spacy"], "missing"),
    ("convert-text-as-docbin", ["convert", "{text}", "-o", "{out}/c.spacy", "--format", "spacy"], "text"),
    ("export-missing-input", ["export", "{missing}", "-o", "{out}/e", "--format", "brat"], "missing"),
    ("export-text-as-docbin", ["export", "{text}", "-o", "{out}/e.jsonl", "--format", "jsonspans"], "text"),
    ("split-missing-input", ["split", "{missing}", "-o", "{out}/s"], "missing"),
    ("split-text-as-docbin", ["split", "{text}", "-o", "{out}/s"], "text"),
    ("stats-missing-input", ["stats", "{missing}"], "missing"),
    ("stats-text-as-docbin", ["stats", "{text}"], "text"),
    ("evaluate-missing-pipeline", ["evaluate", "{missing_dir}", "{good}", "-o", "{out}/ev"], "missing_dir"),
    ("evaluate-text-as-pipeline", ["evaluate", "{text}", "{good}", "-o", "{out}/ev"], "text"),
    ("evaluate-missing-test", ["evaluate", "{pipeline}", "{missing}", "-o", "{out}/ev"], "missing"),
    ("evaluate-text-as-test", ["evaluate", "{pipeline}", "{text}", "-o", "{out}/ev"], "text"),
    ("aggregate-missing-run", ["aggregate", "{missing_dir}", "-o", "{out}/ag"], "missing_dir"),
    ("aggregate-text-as-metrics", ["aggregate", "{bad_run}", "-o", "{out}/ag"], "bad_run"),
    ("compare-missing-run", ["compare", "{missing_dir}", "{bad_run}", "-o", "{out}/cmp"], "missing_dir"),
    ("compare-text-as-metrics", ["compare", "{bad_run}", "{bad_run}", "-o", "{out}/cmp"], "bad_run"),
    ("annotate-missing-pipeline", ["annotate", "{missing_dir}", "{text}", "-o", "{out}/a.jsonl"], "missing_dir"),
    ("annotate-text-as-pipeline", ["annotate", "{text}", "{text}", "-o", "{out}/a.jsonl"], "text"),
    ("annotate-missing-input", ["annotate", "{pipeline}", "{missing}", "-o", "{out}/a.jsonl"], "missing"),
    ("package-missing-pipeline", ["package", "{missing_dir}", "-o", "{out}/pk", "--encoder", "cnn", "--train-corpus", "x"],
     "missing_dir"),
    ("package-text-as-pipeline", ["package", "{text}", "-o", "{out}/pk", "--encoder", "cnn", "--train-corpus", "x"], "text"),
    ("llm-baseline-missing-config", ["llm-baseline", "{missing}", "{good}", "-o", "{out}/llm", *NO_SERVER],
     "missing"),
    ("llm-baseline-text-as-config", ["llm-baseline", "{text}", "{good}", "-o", "{out}/llm", *NO_SERVER], "text"),
    ("llm-baseline-missing-test", ["llm-baseline", str(LOCAL_LLM), "{missing}", "-o", "{out}/llm", *NO_SERVER],
     "missing"),
    ("llm-baseline-text-as-test", ["llm-baseline", str(LOCAL_LLM), "{text}", "-o", "{out}/llm", *NO_SERVER],
     "text"),
    ("annotate-silver-missing-config", ["annotate-silver", "{missing}", "{text}", "-o", "{out}/silver.spacy", *NO_SERVER],
     "missing"),
    ("annotate-silver-text-as-config", ["annotate-silver", "{text}", "{text}", "-o", "{out}/silver.spacy", *NO_SERVER],
     "text"),
    ("annotate-silver-missing-notes",
     ["annotate-silver", str(LOCAL_LLM), "{missing_dir}", "-o", "{out}/silver.spacy", *NO_SERVER], "missing_dir"),
    ("notes-missing-input", ["notes", "{missing}", "-o", "{out}/n.jsonl"], "missing"),
    ("notes-missing-folder", ["notes", "{missing_dir}", "-o", "{out}/n.jsonl"], "missing_dir"),
    ("pretrain-mlm-missing-notes", ["pretrain-mlm", "{missing}", "{out}/mlm", "--encoder.name", "bert"], "missing"),
    ("pretrain-mlm-docbin-as-notes", ["pretrain-mlm", "{good}", "{out}/mlm", "--encoder.name", "bert"], "good"),
]
# The output under a file (a text file where a folder is needed): the message names it (the path starts with it).
OUTPUT_UNDER_A_FILE = [
    ("convert", ["convert", "{good}", "-o", "{text}/c.spacy", "--format", "spacy"]),
    ("export", ["export", "{good}", "-o", "{text}/e", "--format", "brat"]),
    ("split", ["split", "{good}", "-o", "{text}/s", "--method", "random"]),
    ("evaluate", ["evaluate", "{pipeline}", "{good}", "-o", "{text}/ev", "--threshold-policy", "fixed"]),
    ("annotate", ["annotate", "{pipeline}", "{text}", "-o", "{text}/a.jsonl"]),
    ("package", ["package", "{pipeline}", "-o", "{text}/pk", "--encoder", "cnn", "--train-corpus", "x"]),
    ("annotate-silver", ["annotate-silver", str(LOCAL_LLM), "{text}", "-o", "{text}/silver.spacy", *NO_SERVER]),
    ("llm-baseline", ["llm-baseline", str(LOCAL_LLM), "{good}", "-o", "{text}/llm", *NO_SERVER]),
    ("notes", ["notes", "{text}", "-o", "{text}/n.jsonl"]),
]
CASES += [(f"{command}-output-under-a-file", args, "text") for command, args in OUTPUT_UNDER_A_FILE]


@pytest.mark.parametrize("args, bad", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_one_error_line_naming_the_path(inputs, args, bad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the LLM commands' default cache folder lands here, not in the checkout
    result = invoke(*(arg.format(**inputs) for arg in args))
    assert_clean_error(result, inputs[bad])


def test_every_command_has_a_case():
    from spacy_clinical_pt.cli import COMMANDS

    # encoders and llm-presets read no file and write only what they are given: no bad-input case applies
    assert set(COMMANDS) - {"encoders", "llm-presets"} == {case[1][0] for case in CASES}
