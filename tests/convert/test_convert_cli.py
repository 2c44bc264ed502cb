"""The `convert` and `export` commands: options, report, exit codes."""

import json
from pathlib import Path

import pytest
import typer
from helpers import FIXTURES
from typer.testing import CliRunner

from spacy_clinical_pt import tokenizer
from spacy_clinical_pt.convert import load_docs
from spacy_clinical_pt.cli.convert import convert_command
from spacy_clinical_pt.cli.export import export_command

# The two commands as `spacy_clinical_pt.cli` registers them.
app = typer.Typer()
app.command("convert")(convert_command)
app.command("export")(export_command)
runner = CliRunner()


@pytest.fixture(autouse=True)
def shared_nlp(nlp, monkeypatch):
    """Build the clinical tokenizer once for the whole module, not once per command."""
    monkeypatch.setattr(tokenizer, "clinical_nlp", lambda: nlp)


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_convert_brat_with_report_then_export(tmp_path):
    result = invoke(
        "convert", FIXTURES / "brat" / "notas", "-o", tmp_path / "notes.spacy", "--format", "brat",
        "--discontinuous", "fragments", "--spans-key", "gold", "--report", tmp_path / "report.json",
    )
    assert result.exit_code == 0, result.output
    assert "2 documents, 8 entities" in result.output and "R (relation) 1" in result.output
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf8"))
    assert {"docs", "entities", "entities_per_label", "misaligned", "repaired", "dropped", "errors"} <= set(report)
    assert report["entities_per_label"] == {"Anatomia": 2, "Problema": 4, "Teste": 1, "Tratamento": 1}
    assert len(load_docs(tmp_path / "notes.spacy")[0].spans["gold"]) == 7

    result = invoke(
        "export", tmp_path / "notes.spacy", "-o", tmp_path / "back", "--format", "brat", "--spans-key", "gold"
    )
    assert result.exit_code == 0, result.output
    assert "wrote 2 documents, 8 entities" in result.output
    assert "T3\tProblema 37 42;28 32\tedema MMII" in (tmp_path / "back" / "nota1.ann").read_text(encoding="utf8")


def test_strict_error_exits_1_with_file_and_record(tmp_path):
    source = tmp_path / "train.json"
    source.write_text(json.dumps([{"text": "Toma AAS.", "annotations": [{"begin": 5, "end": 8, "label": None}]}]))
    result = invoke(
        "convert", source, "-o", tmp_path / "out.spacy", "--format", "jsonspans", "--report", tmp_path / "r.json"
    )
    assert result.exit_code == 1
    assert "train.json record 1 annotation 1: empty or null label" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out.spacy").exists()
    assert json.loads((tmp_path / "r.json").read_text())["errors"]  # the report says why it stopped

    result = invoke("convert", source, "-o", tmp_path / "out.spacy", "--format", "jsonspans", "--lenient")
    assert result.exit_code == 0
    assert "dropped: 1" in result.output and "record 1 annotation 1" in result.output


def test_option_for_another_format_is_refused(tmp_path):
    result = invoke(
        "convert", FIXTURES / "json" / "er_ner_sample.json", "-o", tmp_path / "o.spacy", "-f", "jsonspans",
        "--source-key", "sc",
    )
    assert result.exit_code == 1 and "source_key does not apply" in result.output


def test_unknown_format_is_a_usage_error(tmp_path):
    result = invoke("convert", FIXTURES / "json" / "er_ner_sample.json", "-o", tmp_path / "o.spacy", "--format", "xml")
    assert result.exit_code == 2


def test_export_jsonspans_and_missing_input(tmp_path):
    source = FIXTURES / "json" / "er_ner_sample.json"
    assert invoke("convert", source, "-o", tmp_path / "er.spacy", "-f", "jsonspans").exit_code == 0
    result = invoke("export", tmp_path / "er.spacy", "-o", tmp_path / "er.json", "--format", "jsonspans")
    assert result.exit_code == 0
    original = json.loads((FIXTURES / "json" / "er_ner_sample.json").read_text(encoding="utf8"))
    assert json.loads((tmp_path / "er.json").read_text(encoding="utf8")) == original
    result = invoke("export", tmp_path / "absent.spacy", "-o", tmp_path / "x.json", "--format", "jsonspans")
    assert result.exit_code == 1 and "absent.spacy: no such file" in result.output


def no_traceback(result):
    """The command ended by its own exit, not by an exception escaping it (a user would see a traceback)."""
    return result.exception is None or isinstance(result.exception, SystemExit)


def test_deeply_nested_json_is_an_error_not_a_traceback(tmp_path):
    source = tmp_path / "deep.json"
    source.write_text("[" * 100000, encoding="utf8")
    result = invoke("convert", source, "-o", tmp_path / "out.spacy", "--format", "jsonspans")
    assert result.exit_code == 1 and no_traceback(result), result.exception
    assert "deep.json:line 1: JSON nested too deeply" in result.output


def test_unwritable_output_and_report_name_the_path(tmp_path):
    source = FIXTURES / "json" / "er_ner_sample.json"
    (tmp_path / "folder.spacy").mkdir()
    result = invoke("convert", source, "-o", tmp_path / "folder.spacy", "--format", "jsonspans")
    assert result.exit_code == 1 and no_traceback(result), result.exception
    assert f"error: {tmp_path / 'folder.spacy'}: " in result.output
    (tmp_path / "file").write_text("x")
    report = tmp_path / "file" / "r.json"
    result = invoke("convert", source, "-o", tmp_path / "out.spacy", "-f", "jsonspans", "--report", report)
    assert result.exit_code == 1 and no_traceback(result), result.exception
    assert f"error: {tmp_path / 'file' / 'r.json'}: " in result.output


def test_lenient_run_with_skipped_records_exits_3_and_writes_the_rest(tmp_path):
    source = tmp_path / "d.jsonl"
    good = json.dumps({"text": "Toma AAS.", "annotations": [{"begin": 5, "end": 8, "label": "Medicação"}]})
    source.write_text(f"{good}\n{{oops\n{good}\n", encoding="utf8")
    result = invoke("convert", source, "-o", tmp_path / "out.spacy", "--format", "jsonspans", "--lenient")
    assert result.exit_code == 3, result.output
    assert "2 documents, 2 entities" in result.output and "d.jsonl:line 2: malformed JSON line" in result.output
    assert len(load_docs(tmp_path / "out.spacy")) == 2


def test_export_to_an_unwritable_path_is_an_error_not_a_traceback(tmp_path):
    source = FIXTURES / "json" / "er_ner_sample.json"
    assert invoke("convert", source, "-o", tmp_path / "er.spacy", "-f", "jsonspans").exit_code == 0
    (tmp_path / "file").write_text("x")
    for format, target in (("jsonspans", tmp_path / "file" / "er.json"), ("brat", tmp_path / "file")):
        result = invoke("export", tmp_path / "er.spacy", "-o", target, "--format", format)
        assert result.exit_code == 1 and no_traceback(result), (format, result.exception)
        assert f"error: {tmp_path / 'file'}" in result.output


def test_the_data_modules_import_no_typer_and_the_commands_no_spacy():
    """Library modules raise and return, the command modules (`cli/`) print and exit: the converters, export,
    stats, split, corpus, oversampling and tokenizer import no typer (spaCy loads typer itself, so their
    source is read); importing the four data commands loads no spaCy."""
    import ast
    import subprocess
    import sys

    import spacy_clinical_pt

    package = Path(spacy_clinical_pt.__file__).parent
    modules = ("export", "stats", "split", "corpus", "oversampling", "tokenizer")
    library = [*(package / "convert").glob("*.py"), *(package / f"{name}.py" for name in modules)]
    for path in library:
        tree = ast.parse(path.read_text(encoding="utf8"))
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module and not node.level}
        assert not imported & {"typer", "click"}, path
    commands = ", ".join(f"spacy_clinical_pt.cli.{m}" for m in ("convert", "export", "stats", "split"))
    code = f"import sys, {commands}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'spacy'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == "[]\n"
