"""The console script and `python -m spacy_clinical_pt` expose every subcommand."""

import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from spacy_clinical_pt.cli import app

COMMANDS = ["convert", "export", "stats", "split", "evaluate", "aggregate", "compare", "annotate", "package",
            "llm-baseline", "annotate-silver"]


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
        app, ["split", str(corpus), "-o", str(tmp_path / "out"), "--method", "random", "--ratios", "0.6", "0.2", "0.2"]
    )
    assert result.exit_code == 0, result.output
    assert "ratios 0.6/0.2/0.2" in result.output
    assert (tmp_path / "out" / "split.json").exists()


# --- the last line of defence in `main()` ---------------------------------------------------------------------

NOTE = "Paciente de 54 anos com dor torácica e dispneia aos esforços. "


def replace_command(monkeypatch, command: str, callback) -> None:
    """Make the app run `callback` for `command` (the app imports each command's module when it runs)."""
    import importlib

    from spacy_clinical_pt.cli import COMMANDS

    entry = COMMANDS[command]
    monkeypatch.setattr(importlib.import_module(f"spacy_clinical_pt.cli.{entry.module}"), entry.function, callback)


def run_main(monkeypatch, capsys, command: str, callback, *args: str):
    """Run `cli.main()` on `command args` with `command`'s function replaced by `callback`; RETURNS (exit code,
    stdout, stderr)."""
    from spacy_clinical_pt import cli

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # typer installs its own hook when the app runs
    monkeypatch.setattr(sys, "argv", ["spacy-clinical-pt", command, *args])
    replace_command(monkeypatch, command, callback)
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def test_an_unexpected_exception_is_one_line_without_the_traceback(monkeypatch, capsys):
    monkeypatch.delenv("SPACY_CLINICAL_PT_DEBUG", raising=False)

    def stats(corpus: str):
        raise KeyError(NOTE * 10 + "\nsegunda linha")

    code, out, err = run_main(monkeypatch, capsys, "stats", stats, "corpus.spacy")
    assert code == 1
    first, hint = err.splitlines()
    assert first.startswith("error: unexpected KeyError in stats: 'Paciente de 54")
    assert len(first) == len("error: unexpected KeyError in stats: ") + 40 and first.endswith("...")
    assert "segunda linha" not in err  # cut at 40 characters (the excerpt limit), on one line
    assert "SPACY_CLINICAL_PT_DEBUG=1" in hint
    assert "Traceback" not in out + err


def test_the_debug_variable_lets_the_traceback_through(monkeypatch, capsys):
    from spacy_clinical_pt import cli

    monkeypatch.setenv("SPACY_CLINICAL_PT_DEBUG", "1")

    def stats(corpus: str):
        raise KeyError("boom")

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(sys, "argv", ["spacy-clinical-pt", "stats", "corpus.spacy"])
    replace_command(monkeypatch, "stats", stats)
    with pytest.raises(KeyError, match="boom"):
        cli.main()


def test_ctrl_c_exits_130_with_a_short_message(monkeypatch, capsys):
    def split(corpus: str, output_dir: str):
        raise KeyboardInterrupt

    code, out, err = run_main(monkeypatch, capsys, "split", split, "a.spacy", "out")
    assert code == 130
    assert err.startswith("interrupted: split stopped") and len(err.splitlines()) == 1
    assert "Traceback" not in out + err


def test_usage_errors_help_and_command_exits_are_typers_own(monkeypatch, capsys):
    """What the commands and typer say and exit with passes through `main()` unchanged."""
    from spacy_clinical_pt import cli

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(sys, "argv", ["spacy-clinical-pt", "split", "only-one.spacy"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 2 and "Missing option '--output'" in capsys.readouterr().err

    monkeypatch.setattr(sys, "argv", ["spacy-clinical-pt", "--help"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 0 and "annotate-silver" in capsys.readouterr().out

    def stats(corpus: str):
        typer.echo("error: corpus.spacy: a clean error", err=True)
        raise typer.Exit(1)

    code, _, err = run_main(monkeypatch, capsys, "stats", stats, "corpus.spacy")
    assert code == 1 and err == "error: corpus.spacy: a clean error\n"


def test_python_dash_m_goes_through_the_last_line_of_defence(tmp_path):
    """`python -m spacy_clinical_pt` (run as __main__, as -m does) with a command that fails unexpectedly."""
    code = (
        "import runpy, sys\n"
        "from spacy_clinical_pt import cli\n"
        "def stats(corpus: str):\n"
        f"    raise RuntimeError({NOTE!r})\n"
        "import spacy_clinical_pt.cli.stats as module\n"
        "module.stats_command = stats\n"
        "sys.argv = ['spacy-clinical-pt', 'stats', 'corpus.spacy']\n"
        "runpy.run_module('spacy_clinical_pt', run_name='__main__')\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "SPACY_CLINICAL_PT_DEBUG"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env,
                            cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: unexpected RuntimeError in stats: Paciente de 54 anos")
    assert "Traceback" not in result.stderr
