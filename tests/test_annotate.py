"""`annotate`: new notes in (text file, folder, JSONL, stdin), entities out (JSONL, BRAT, HTML).

The pipeline is `configs/cnn.cfg` trained for a few hundred steps on a dozen hand-written notes, small enough
to train in seconds, trained long enough to find the nested entities of its training notes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import spacy
import typer
from spacy.tokens import DocBin
from typer.testing import CliRunner

from clinical_notes import NOTES, note_records
from spacy_clinical_pt.annotate import (
    EXIT_PARTIAL,
    AnnotationReport,
    Note,
    annotate_command,
    annotate_notes,
    read_notes,
    write_annotations,
)
from spacy_clinical_pt.convert import convert_path, load_docs
from spacy_clinical_pt.corpus import ConversionError, ConversionReport, build_docs
from spacy_clinical_pt.tokenizer import clinical_nlp

REPO = Path(__file__).resolve().parents[1]
CNN_CONFIG = REPO / "configs" / "cnn.cfg"

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


def spans_of(doc, key="sc"):
    return [(s.start_char, s.end_char, s.label_) for s in doc.spans[key]]


def overlapping(spans) -> bool:
    ordered = sorted(spans)
    return any(b[0] < a[1] for a, b in zip(ordered, ordered[1:]))


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory) -> Path:
    return train_tiny_pipeline(tmp_path_factory.mktemp("annotate_model"))


@pytest.fixture(scope="module")
def nlp_model(pipeline_dir):
    return spacy.load(pipeline_dir)


@pytest.fixture
def runner_app():
    app = typer.Typer()
    app.command("annotate")(annotate_command)
    # A second command keeps typer from collapsing the app into the single command (no "annotate" word).
    app.command("noop")(lambda: None)
    return app


def run(app, *args, input=None):
    return CliRunner().invoke(app, ["annotate", *map(str, args)], input=input)


@pytest.mark.slow
def test_the_tiny_pipeline_finds_nested_entities(nlp_model):
    spans = spans_of(nlp_model(NESTED_NOTE))
    assert (16, 28, "Problema") in spans and (23, 28, "Anatomia") in spans, spans
    assert overlapping(spans)


def test_read_notes_from_a_folder_keeps_relative_ids_and_exact_text(tmp_path):
    (tmp_path / "ward").mkdir()
    (tmp_path / "a.txt").write_bytes("Dor no peito.\r\nFebre.".encode("utf8"))
    (tmp_path / "ward" / "b.txt").write_bytes("Náusea.".encode("cp1252"))  # an old export, not UTF-8
    (tmp_path / "ignored.ann").write_text("T1\tProblema 0 3\tDor", encoding="utf8")
    report = AnnotationReport()
    notes = list(read_notes(tmp_path, report))
    assert [(n.doc_id, n.text) for n in notes] == [("a", "Dor no peito.\r\nFebre."), ("ward/b", "Náusea.")]
    assert report.problems == []


def test_read_notes_reports_malformed_jsonl_lines_by_number_and_keeps_the_rest(tmp_path):
    path = tmp_path / "notes.jsonl"
    lines = [
        json.dumps({"id": "n1", "text": "Dor no peito."}),
        '{"id": "n2", "text": "Febre e tosse seca',  # truncated: not JSON
        "",
        json.dumps({"text": "Sem queixas."}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": "n5", "texto": "Edema."}),
        json.dumps({"id": "n1", "text": "Cefaleia."}),  # repeated id
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    report = AnnotationReport()
    notes = list(read_notes(path, report))
    assert [(n.doc_id, n.text) for n in notes] == [("n1", "Dor no peito."), ("line4", "Sem queixas."),
                                                   ("n1-2", "Cefaleia.")]
    assert [p["where"] for p in report.problems] == [f"{path}:line 2", f"{path}:line 5", f"{path}:line 6"]
    # the message says what is wrong, never quotes the line (clinical text)
    assert "not valid JSON" in report.problems[0]["problem"] and "tosse" not in report.problems[0]["problem"]
    assert "'text'" in report.problems[2]["problem"]


def test_read_notes_missing_input_is_an_error(tmp_path):
    with pytest.raises(ConversionError, match="no such file"):
        list(read_notes(tmp_path / "absent.txt", AnnotationReport()))
    with pytest.raises(ConversionError, match="no .txt files"):
        list(read_notes(tmp_path, AnnotationReport()))


@pytest.mark.slow
def test_jsonl_output_has_offsets_labels_and_scores(nlp_model, tmp_path):
    notes = [Note("n1", NESTED_NOTE, "test"), Note("n2", "Sem queixas hoje.", "test")]
    report = AnnotationReport()
    docs = list(annotate_notes(nlp_model, notes, spans_key="sc", report=report))
    write_annotations(docs, tmp_path / "out.jsonl", "jsonl")
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf8").splitlines()]
    assert [row["doc_id"] for row in rows] == ["n1", "n2"]
    assert rows[0]["text"] == NESTED_NOTE
    found = [(a["start"], a["end"], a["label"]) for a in rows[0]["annotations"]]
    assert sorted(found) == sorted(spans_of(docs[0]))
    for annotation in rows[0]["annotations"]:
        assert NESTED_NOTE[annotation["start"]:annotation["end"]].strip()
        assert 0.0 < annotation["score"] <= 1.0
    assert report.notes == 2 and sum(report.entities.values()) == len(found) + len(rows[1]["annotations"])


@pytest.mark.slow
def test_brat_output_reimports_to_the_same_spans(nlp_model, tmp_path):
    texts = {f"note{i}": text for i, (text, _) in enumerate(NOTES)}
    texts["crlf"] = "Paciente com dor no peito.\r\nTomografia de crânio sem lesões.\r\n"
    docs = list(annotate_notes(nlp_model, (Note(k, v, "test") for k, v in texts.items())))
    predicted = {doc.user_data["clinical_pt"]["doc_id"]: spans_of(doc) for doc in docs}
    assert sum(map(len, predicted.values())) > 10
    write_annotations(docs, tmp_path / "brat", "brat")
    assert (tmp_path / "brat" / "crlf.txt").read_bytes() == texts["crlf"].encode("utf8")
    convert_path(tmp_path / "brat", tmp_path / "back.spacy", format="brat")
    back = {doc.user_data["clinical_pt"]["doc_id"]: doc for doc in load_docs(tmp_path / "back.spacy")}
    assert set(back) == set(texts)
    for doc_id, spans in predicted.items():
        assert sorted(spans_of(back[doc_id])) == sorted(spans), doc_id


@pytest.mark.slow
def test_html_output_is_a_displacy_span_page(nlp_model, tmp_path):
    docs = list(annotate_notes(nlp_model, [Note("n1", NESTED_NOTE, "test")]))
    write_annotations(docs, tmp_path / "out.html", "html", labels=["Problema", "Anatomia"])
    page = (tmp_path / "out.html").read_text(encoding="utf8")
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert "Problema" in page and "Anatomia" in page and "peito" in page


@pytest.mark.slow
def test_command_jsonl_with_a_bad_line_annotates_the_rest_and_exits_3(runner_app, pipeline_dir, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"id": 7, "text": NESTED_NOTE}) + "\n{broken\n" + json.dumps({"text": "Febre."}) + "\n",
        encoding="utf8",
    )
    result = run(runner_app, pipeline_dir, source, "--output", tmp_path / "out.jsonl", "--batch-size", 1)
    assert result.exit_code == EXIT_PARTIAL, result.output
    assert f"{source}:line 2" in result.output
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf8").splitlines()]
    assert [row["doc_id"] for row in rows] == [7, "line3"]
    assert rows[0]["annotations"]


@pytest.mark.slow
def test_command_stdin_to_brat_and_html_folder_input(runner_app, pipeline_dir, tmp_path):
    result = run(runner_app, pipeline_dir, "-", "--output", tmp_path / "brat", "--format", "brat", "--show",
                 input=NESTED_NOTE)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "brat" / "stdin.txt").read_text(encoding="utf8") == NESTED_NOTE
    ann = (tmp_path / "brat" / "stdin.ann").read_text(encoding="utf8")
    assert "Problema 16 28\tdor no peito" in ann
    assert "Anatomia" in result.output  # --show prints the entities
    notes = tmp_path / "notes"
    notes.mkdir()
    for i, (text, _) in enumerate(NOTES[:3]):
        (notes / f"n{i}.txt").write_text(text, encoding="utf8")
    result = run(runner_app, pipeline_dir, notes, "-o", tmp_path / "v.html", "-f", "html", "--n-process", 2)
    assert result.exit_code == 0, result.output
    assert "annotated 3 notes" in result.output
    assert "displacy" in (tmp_path / "v.html").read_text(encoding="utf8").lower()


def test_command_errors_are_clear(runner_app, tmp_path):
    result = run(runner_app, tmp_path / "no_model", "-", "--output", tmp_path / "out.jsonl", input="Dor.")
    assert result.exit_code == 1 and "cannot load the pipeline" in result.output
