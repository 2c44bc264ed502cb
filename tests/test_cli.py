"""The console script and `python -m spacy_clinical_pt` expose every subcommand."""

import subprocess
import sys

from typer.testing import CliRunner

from spacy_clinical_pt.cli import app

COMMANDS = ["convert", "export", "stats", "split", "evaluate", "aggregate", "compare", "annotate", "package"]


def test_every_subcommand_is_registered_with_help():
    runner = CliRunner()
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output
        sub = runner.invoke(app, [command, "--help"])
        assert sub.exit_code == 0, (command, sub.output)


def test_python_dash_m_runs_the_same_program():
    result = subprocess.run(
        [sys.executable, "-m", "spacy_clinical_pt", "split", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "--ratios" in result.stdout and "--min-docs-per-label" in result.stdout


def test_split_accepts_ratios_as_separate_values(tmp_path, nlp):
    from spacy.tokens import DocBin

    from spacy_clinical_pt.corpus import ConversionReport, Entity, Record, build_docs

    records = [
        Record(f"d{i}", "Dor no peito e febre.", [Entity(0, 12, "Problema"), Entity(15, 20, "Problema")])
        for i in range(10)
    ]
    corpus = tmp_path / "all.spacy"
    DocBin(store_user_data=True, docs=list(build_docs(nlp, records, ConversionReport()))).to_disk(corpus)
    result = CliRunner().invoke(
        app, ["split", str(corpus), str(tmp_path / "out"), "--method", "random", "--ratios", "0.6", "0.2", "0.2"]
    )
    assert result.exit_code == 0, result.output
    assert "ratios 0.6/0.2/0.2" in result.output
    assert (tmp_path / "out" / "split.json").exists()
