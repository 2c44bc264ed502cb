"""`annotate`: new notes in (text file, folder, JSONL, stdin), entities out (JSONL, BRAT, HTML).

The pipeline is `configs/cnn.cfg` trained for a few hundred steps on a dozen hand-written notes, small enough
to train in seconds, trained long enough to find the nested entities of its training notes.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import numpy
import pytest
import spacy
import typer
from spacy.language import Language
from spacy.tokens import Doc, Span, SpanGroup
from typer.testing import CliRunner

from helpers.clinical_notes import NOTES
from helpers.pipelines import NESTED_NOTE, overlapping, train_tiny_pipeline
from spacy_clinical_pt.annotate import AnnotationReport, Note, annotate_notes, read_notes, split_text, write_annotations
from spacy_clinical_pt.cli._util import EXIT_PARTIAL
from spacy_clinical_pt.cli.annotate import annotate_command
from spacy_clinical_pt.convert import convert_path, load_docs
from spacy_clinical_pt.corpus import ConversionError
from spacy_clinical_pt.tokenizer import clinical_nlp


def spans_of(doc, key="sc"):
    return [(s.start_char, s.end_char, s.label_) for s in doc.spans[key]]


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
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        f"error: cannot load the pipeline: {tmp_path / 'no_model'}: no such pipeline folder or installed package"]


def test_command_gpu_that_cannot_be_used_is_an_error(runner_app, rule_pipeline_dir, tmp_path):
    try:
        spacy.require_gpu(0)
    except ValueError:
        pass
    else:
        spacy.require_cpu()
        pytest.skip("a GPU is usable here")
    result = run(runner_app, rule_pipeline_dir, "-", "-o", tmp_path / "out.jsonl", "--gpu-id", 0, input="Dor.")
    assert result.exit_code == 1 and result.stderr.startswith("error: --gpu-id 0: "), result.output
    assert not (tmp_path / "out.jsonl").exists()


# -- Bad and unusual input (issue 13): nothing lost, nothing crashes. --------------------------------------------
# A rule pipeline stands in for a trained one where only the plumbing is tested: it loads in a blink.

PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


@Language.component("annotate_test_marks_dor")
def mark_dor(doc: Doc) -> Doc:
    """Every "dor" is a Problema, scored by the length of the next word (so a split note gets the same scores)."""
    spans = [Span(doc, token.i, token.i + 1, label="Problema") for token in doc if token.lower_ == "dor"]
    scores = [len(doc[span.end].text) / 10 if span.end < len(doc) else 0.0 for span in spans]
    group = SpanGroup(doc, name="sc", spans=spans)
    group.attrs["scores"] = numpy.asarray(scores, dtype="float32")
    group.attrs["columns"] = ["Problema"]
    doc.spans["sc"] = group
    return doc


@Language.component("annotate_test_fails_on_quebra")
def fail_on_quebra(doc: Doc) -> Doc:
    """A component that fails on one note, as a real one may on an input it was never shown."""
    if "QUEBRA" in doc.text:
        raise ValueError("a component failed on this note")
    return doc


class FailsOnQuebraInPipe:
    """A component whose own `pipe` raises past spaCy's error handler, as some third-party components do."""

    def __call__(self, doc: Doc) -> Doc:
        return fail_on_quebra(doc)

    def pipe(self, docs, batch_size=128):
        for doc in docs:
            yield self(doc)


@Language.factory("annotate_test_fails_in_pipe")
def make_fails_in_pipe(nlp, name):
    return FailsOnQuebraInPipe()


@pytest.fixture(scope="module")
def rule_pipeline_dir(tmp_path_factory) -> Path:
    nlp = clinical_nlp()
    nlp.add_pipe("annotate_test_marks_dor")
    nlp.add_pipe("annotate_test_fails_on_quebra")
    folder = tmp_path_factory.mktemp("rule_pipeline") / "pipeline"
    nlp.to_disk(folder)
    return folder


def jsonl_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines()]


def test_split_text_cuts_at_paragraphs_then_lines_then_sentences_and_keeps_every_character():
    text = "Dor no peito. Nega febre.\r\n\r\nTosse seca.\nSem queixas hoje. Edema."
    assert split_text(text, 200) == [text]
    assert split_text(text, 40) == ["Dor no peito. Nega febre.\r\n\r\n", "Tosse seca.\nSem queixas hoje. Edema."]
    # The cut falls in the second half of a piece (no tiny pieces): in "Tosse seca.\nSem queixas hoje. " the line
    # end is too early, the sentence end is taken.
    assert split_text(text, 30) == ["Dor no peito. Nega febre.\r\n\r\n", "Tosse seca.\nSem queixas hoje. ", "Edema."]
    assert split_text(text, 20) == ["Dor no peito. ", "Nega febre.\r\n\r\n", "Tosse seca.\n", "Sem queixas hoje. ",
                                    "Edema."]
    assert split_text(text, 12) == ["Dor no ", "peito. Nega ", "febre.\r\n\r\n", "Tosse seca.\n", "Sem queixas ",
                                    "hoje. Edema."]
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]  # no whitespace at all: a plain cut


def test_a_long_note_is_split_and_joined_with_the_offsets_and_scores_of_the_original(rule_pipeline_dir):
    nlp = spacy.load(rule_pipeline_dir)
    nlp.max_length = 60  # stands for spaCy's 1,000,000 characters
    text = "".join(
        f"Consulta {i}: dor no peito  há {i} dias.\r\nRefere dor abdominal.\n\n" if i % 2 else
        f"Retorno {i}. Sem dor hoje, dor lombar leve. Dor ao urinar.\t"
        for i in range(12)
    )
    report = AnnotationReport()
    [doc] = annotate_notes(nlp, [Note("long", text, "test")], report=report)
    assert len(text) > 10 * nlp.max_length and doc.text == text
    expected = [(m.start(), m.end(), "Problema") for m in re.finditer("dor", text, flags=re.IGNORECASE)]
    assert spans_of(doc) == expected
    next_words = [re.match(r"\s*(\w+)", text[end:]).group(1) for _, end, _ in expected]
    assert doc.spans["sc"].attrs["scores"].tolist() == pytest.approx([len(w) / 10 for w in next_words])
    assert doc.spans["sc"].attrs["columns"] == ["Problema"]
    assert doc.user_data["clinical_pt"]["doc_id"] == "long"
    assert report.notes == 1 and report.entities == {"Problema": len(expected)} and report.problems == []


@pytest.mark.slow
def test_a_2mb_note_is_annotated_with_offsets_into_the_original(runner_app, pipeline_dir, tmp_path):
    filler = "Sem queixas hoje. Paciente estável.\nAlimentação preservada.\n\n"
    before = filler * (1_500_000 // len(filler))
    big = before + NESTED_NOTE + "\n\n" + filler * (520_000 // len(filler))
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text(NOTES[1][0], encoding="utf8")
    (notes / "big.txt").write_text(big, encoding="utf8")
    result = run(runner_app, pipeline_dir, notes, "--output", tmp_path / "out.jsonl", "--batch-size", 4)
    assert result.exit_code == 0, result.output
    rows = jsonl_rows(tmp_path / "out.jsonl")
    assert [row["doc_id"] for row in rows] == ["a", "big"]
    assert len(big) > 2_000_000 and rows[1]["text"] == big
    at = len(before)
    found = {(a["start"], a["end"], a["label"]): a["score"] for a in rows[1]["annotations"]}
    assert (at + 16, at + 28, "Problema") in found and (at + 23, at + 28, "Anatomia") in found
    assert big[at + 16:at + 28] == "dor no peito" and 0.0 < found[(at + 16, at + 28, "Problema")] <= 1.0


@pytest.mark.parametrize("n_process", [1, 2])
@pytest.mark.parametrize("failing", ["annotate_test_fails_on_quebra", "annotate_test_fails_in_pipe"])
def test_a_failing_note_is_reported_and_the_others_of_its_batch_are_annotated(failing, n_process):
    nlp = clinical_nlp()
    nlp.add_pipe("annotate_test_marks_dor")
    nlp.add_pipe(failing)
    texts = ["Dor no peito.", "Sem dor.", "Febre.", "QUEBRA dor.", "Dor abdominal.", 42, "   ", "Dor lombar."]
    notes = [Note(f"n{i}", text, f"in.jsonl:line {i + 1}") for i, text in enumerate(texts)]
    report = AnnotationReport()
    docs = list(annotate_notes(nlp, notes, batch_size=2, n_process=n_process, report=report))
    assert [doc.user_data["clinical_pt"]["doc_id"] for doc in docs] == ["n0", "n1", "n2", "n4", "n7"]
    assert [doc.text for doc in docs] == [texts[i] for i in (0, 1, 2, 4, 7)]
    assert report.notes == 5 and report.entities == {"Problema": 4}
    assert sorted(report.problems, key=lambda p: p["where"]) == [
        {"where": "in.jsonl:line 4", "problem": "could not be annotated (ValueError: a component failed on this note)"},
        {"where": "in.jsonl:line 6", "problem": "the text is not a string (int)"},
        {"where": "in.jsonl:line 7", "problem": "the text is empty"},
    ]


def test_without_a_report_a_failing_note_raises_naming_it(rule_pipeline_dir):
    nlp = spacy.load(rule_pipeline_dir)
    with pytest.raises(ValueError, match=r"^in.txt: could not be annotated \(ValueError: a component"):
        list(annotate_notes(nlp, [Note("a", "Dor.", "a.txt"), Note("b", "QUEBRA", "in.txt")]))
    docs = annotate_notes(nlp, [Note("a", "Dor.", "a.txt"), Note("b", 42, "b.txt")])
    assert next(docs).text == "Dor."
    with pytest.raises(ValueError, match=r"^b.txt: the text is not a string \(int\)$"):
        next(docs)


def test_an_error_of_the_input_itself_ends_the_run_after_the_notes_before_it(rule_pipeline_dir):
    def notes():
        yield Note("a", "Dor no peito.", "a.txt")
        raise ConversionError("b.txt: cannot read it")

    docs = annotate_notes(spacy.load(rule_pipeline_dir), notes(), report=AnnotationReport())
    assert next(docs).text == "Dor no peito."
    with pytest.raises(ConversionError, match="b.txt: cannot read it"):
        next(docs)


def test_read_notes_skips_unreadable_jsonl_lines_and_keeps_line_separators_inside_texts(tmp_path):
    path = tmp_path / "notes.jsonl"
    lines = [
        json.dumps({"id": "a", "text": "Dor no peito."}),
        '{"id": "b", "peso": ' + "9" * 5000 + ', "text": "Febre."}',  # an integer Python refuses to read
        "[" * 100_000 + "]" * 100_000,  # nesting deeper than the parser's recursion limit
        json.dumps({"id": "c", "text": "Dor abdominal.\u2028Sem febre.\x85Fim."}, ensure_ascii=False),
        json.dumps({"id": "d", "texto": "Edema."}),
        json.dumps({"id": "e", "text": ["Tosse"]}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    report = AnnotationReport()
    notes = list(read_notes(path, report))
    assert [(n.doc_id, n.text, n.origin) for n in notes] == [
        ("a", "Dor no peito.", f"{path}:line 1"),
        ("c", "Dor abdominal.\u2028Sem febre.\x85Fim.", f"{path}:line 4"),
    ]
    assert report.problems == [
        {"where": f"{path}:line 2", "problem": "an integer of 5000 digits (Python reads at most 4300)"},
        {"where": f"{path}:line 3", "problem": "JSON nested too deeply (100000 levels)"},
        {"where": f"{path}:line 5", "problem": "no 'text' key in this object"},
        {"where": f"{path}:line 6", "problem": "'text' is a list, not a string"},
    ]


def test_read_notes_reads_a_json_list_of_records(tmp_path):
    path = tmp_path / "notes.json"  # the layout `export --format jsonspans` writes (ER_NER's)
    records = [{"doc_id": 7, "text": "Dor no peito.", "annotations": []}, {"doc_id": 8}, {"text": "Febre."}]
    path.write_text(json.dumps(records), encoding="utf8")
    report = AnnotationReport()
    assert [(n.doc_id, n.text, n.origin) for n in read_notes(path, report)] == [
        ("7", "Dor no peito.", f"{path}:record 1"), ("record3", "Febre.", f"{path}:record 3")]
    assert report.problems == [{"where": f"{path}:record 2", "problem": "no 'text' key in this object"}]
    path.write_text('{"doc_id": 7, "text": "Dor"', encoding="utf8")
    with pytest.raises(ConversionError, match=r"notes.json line 1: not valid JSON"):
        list(read_notes(path, AnnotationReport()))


def test_binary_files_are_skipped_and_files_that_are_not_notes_counted(tmp_path):
    (tmp_path / "a.txt").write_text("Dor no peito.", encoding="utf8")
    (tmp_path / "scan.txt").write_bytes(PNG_BYTES)  # an image saved under a note's name
    (tmp_path / "dump.txt").write_bytes(bytes(range(1, 9)) * 10 + "Dor".encode("utf8"))
    (tmp_path / "photo.png").write_bytes(PNG_BYTES)
    (tmp_path / "a.ann").write_text("T1\tProblema 0 3\tDor", encoding="utf8")
    report = AnnotationReport()
    assert [n.doc_id for n in read_notes(tmp_path, report)] == ["a"]
    assert report.problems == [
        {"where": str(tmp_path / "dump.txt"), "problem": "not a text file: 80 control characters in 83"},
        {"where": str(tmp_path / "scan.txt"),
         "problem": "not a text file: it holds NUL bytes (a UTF-16 file without byte-order mark needs --encoding)"},
    ]
    assert report.ignored == {".ann": 1, ".png": 1}
    assert report.summary().splitlines()[-1] == "ignored 2 files that are not .txt (.ann 1, .png 1)"
    report = AnnotationReport()
    assert list(read_notes(tmp_path / "photo.png", report)) == []  # a binary file given by name
    assert [p["where"] for p in report.problems] == [str(tmp_path / "photo.png")]
    (tmp_path / "a.txt").unlink()
    (tmp_path / "dump.txt").unlink()
    (tmp_path / "scan.txt").unlink()
    with pytest.raises(ConversionError, match=r"no .txt files in this folder \(found 2 other files: .ann 1, .png 1\)"):
        list(read_notes(tmp_path, AnnotationReport()))


def test_an_unreadable_file_is_skipped_and_an_unreadable_jsonl_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_text("Dor.", encoding="utf8")
    (tmp_path / "b.txt").write_text("Febre.", encoding="utf8")
    (tmp_path / "c.jsonl").write_text(json.dumps({"text": "Dor."}), encoding="utf8")
    read_bytes = Path.read_bytes

    def locked(path: Path) -> bytes:  # what reading a file without permission does (root reads every file)
        if path.name in ("b.txt", "c.jsonl"):
            raise PermissionError(13, "Permission denied", str(path))
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", locked)
    report = AnnotationReport()
    assert [n.doc_id for n in read_notes(tmp_path, report)] == ["a"]
    assert [p["where"] for p in report.problems] == [str(tmp_path / "b.txt")]
    assert "Permission denied" in report.problems[0]["problem"]
    with pytest.raises(ConversionError, match=r"c.jsonl: cannot read it \(Permission denied\)$"):
        list(read_notes(tmp_path / "c.jsonl", AnnotationReport()))


def _output_case(tmp_path: Path, case: str) -> tuple[list, str]:
    """The arguments after the model for one refused output, and the error line expected."""
    source = tmp_path / "note.txt"
    source.write_text("Dor no peito.", encoding="utf8")
    if case == "jsonl into a folder":
        (tmp_path / "out.jsonl").mkdir()
        return [source, "-o", tmp_path / "out.jsonl"], f"error: {tmp_path / 'out.jsonl'}: is a folder; " \
                                                       "--format jsonl writes a file"
    if case == "under a file":
        out = source / "out.jsonl"
        return [source, "-o", out], f"error: {out}: cannot be created: {source} is a file"
    if case == "brat into a file":
        (tmp_path / "out").write_text("", encoding="utf8")
        return [source, "-o", tmp_path / "out", "-f", "brat"], f"error: {tmp_path / 'out'}: is a file; " \
                                                                "--format brat writes a folder"
    if case == "existing file":
        (tmp_path / "out.html").write_text("<p>earlier work</p>", encoding="utf8")
        return [source, "-o", tmp_path / "out.html", "-f", "html"], f"error: {tmp_path / 'out.html'}: already " \
                                                                     "exists; pass --overwrite to replace it"
    if case == "non-empty brat folder":
        (tmp_path / "brat").mkdir()
        (tmp_path / "brat" / "x.ann").write_text("", encoding="utf8")
        return [source, "-o", tmp_path / "brat", "-f", "brat"], f"error: {tmp_path / 'brat'}: the folder is not " \
                                                                 "empty; pass --overwrite to write into it"
    if case == "the input itself":
        jsonl = tmp_path / "notes.jsonl"
        jsonl.write_text(json.dumps({"text": "Dor."}) + "\n", encoding="utf8")
        return [jsonl, "-o", jsonl, "--overwrite"], f"error: {jsonl}: would overwrite the input; write elsewhere"
    if case == "wrong suffix":
        return [source, "-o", tmp_path / "out.txt"], f"error: {tmp_path / 'out.txt'}: --format jsonl writes a " \
                                                      ".jsonl file (or a .json list); name it so"
    if case == "unknown encoding":
        return [source, "-o", tmp_path / "o.jsonl", "--encoding", "utf-99"], "error: unknown encoding 'utf-99'"
    if case == "not a text encoding":
        return [source, "-o", tmp_path / "o.jsonl", "--encoding", "base64"], "error: 'base64' is not a text encoding"
    assert case == "missing input"
    return [tmp_path / "absent.txt", "-o", tmp_path / "o.jsonl"], f"error: {tmp_path / 'absent.txt'}: no such " \
                                                                   "file or folder"


@pytest.mark.parametrize("case", ["jsonl into a folder", "under a file", "brat into a file", "existing file",
                                  "non-empty brat folder", "the input itself", "wrong suffix", "unknown encoding",
                                  "not a text encoding", "missing input"])
def test_bad_output_or_options_are_refused_before_the_pipeline_is_loaded(runner_app, tmp_path, case):
    args, expected = _output_case(tmp_path, case)
    result = run(runner_app, tmp_path / "no_model", *args)  # a model that cannot load: the check comes first
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [expected]
    assert "Traceback" not in result.output


def test_an_unwritable_output_is_refused_up_front(runner_app, tmp_path):
    if os.geteuid() == 0:
        folder = Path("/sys")  # root writes in any folder of an ordinary file system, whatever its mode
    else:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
    try:
        with tempfile.TemporaryFile(dir=folder):
            pytest.skip(f"no unwritable folder to test with: {folder} is writable here")
    except OSError:
        pass
    (tmp_path / "note.txt").write_text("Dor.", encoding="utf8")
    result = run(runner_app, tmp_path / "no_model", tmp_path / "note.txt", "-o", folder / "out" / "a.jsonl")
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: {folder / 'out' / 'a.jsonl'}: cannot write in {folder} (")


def test_overwrite_replaces_an_existing_output_and_writes_into_a_brat_folder(runner_app, rule_pipeline_dir, tmp_path):
    (tmp_path / "note.txt").write_text("Dor no peito.", encoding="utf8")
    (tmp_path / "out.jsonl").write_text("earlier work\n", encoding="utf8")
    result = run(runner_app, rule_pipeline_dir, tmp_path / "note.txt", "-o", tmp_path / "out.jsonl", "--overwrite")
    assert result.exit_code == 0, result.output
    assert [row["text"] for row in jsonl_rows(tmp_path / "out.jsonl")] == ["Dor no peito."]
    (tmp_path / "brat").mkdir()
    (tmp_path / "brat" / "other.ann").write_text("", encoding="utf8")
    result = run(runner_app, rule_pipeline_dir, tmp_path / "note.txt", "-o", tmp_path / "brat", "-f", "brat",
                 "--overwrite")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "brat").iterdir()) == ["note.ann", "note.txt", "other.ann"]


def test_command_reports_every_skipped_input_and_exits_3(runner_app, rule_pipeline_dir, tmp_path):
    source = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"id": "a", "text": "Paciente com dor no peito."}),
        json.dumps({"id": "b", "text": "QUEBRA: Paciente com dor."}),
        '{"id": "c", "peso": ' + "9" * 5000 + "}",
        "[" * 100_000 + "]" * 100_000,
        json.dumps({"id": "d", "text": "Dor abdominal.\u2028Sem febre."}, ensure_ascii=False),
        json.dumps({"id": "e", "text": "Dor \ud800 lombar."}),  # an unpaired surrogate cannot be written as UTF-8
        json.dumps({"id": "f", "text": 42}),
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf8")
    result = run(runner_app, rule_pipeline_dir, source, "-o", tmp_path / "out.jsonl", "--batch-size", 4)
    assert result.exit_code == EXIT_PARTIAL, result.output
    rows = jsonl_rows(tmp_path / "out.jsonl")
    assert [(row["doc_id"], row["text"]) for row in rows] == [
        ("a", "Paciente com dor no peito."), ("d", "Dor abdominal.\u2028Sem febre.")]
    assert [(a["start"], a["end"], a["label"]) for a in rows[0]["annotations"]] == [(13, 16, "Problema")]
    assert result.stderr.splitlines() == [
        "annotated 2 notes: 2 entities (Problema 2)",
        "skipped 5 of 7 inputs:",
        f"  {source}:line 2: could not be annotated (ValueError: a component failed on this note)",
        f"  {source}:line 3: an integer of 5000 digits (Python reads at most 4300)",
        f"  {source}:line 4: JSON nested too deeply (100000 levels)",
        f"  {source}:line 6: the text holds an unpaired surrogate at character 4 (it cannot be written as UTF-8)",
        f"  {source}:line 7: 'text' is a number, not a string",
    ]
    assert result.stdout.splitlines()[-1] == f"wrote 2 notes, 2 entities to {tmp_path / 'out.jsonl'} (jsonl)"


def test_command_empty_stdin_writes_nothing_and_exits_1(runner_app, rule_pipeline_dir, tmp_path):
    result = run(runner_app, rule_pipeline_dir, "-", "-o", tmp_path / "out.jsonl", input="")
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-3:] == ["skipped 1 of 1 inputs:", "  <stdin>: no text on standard input",
                                               "error: no note could be annotated"]
    assert not (tmp_path / "out.jsonl").exists()


def test_command_brat_skips_a_note_whose_text_begins_with_a_byte_order_mark(runner_app, rule_pipeline_dir, tmp_path):
    source = tmp_path / "in.jsonl"
    records = [{"id": "a", "text": "Dor no peito."}, {"id": "b", "text": "\ufeffDor lombar."}]
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf8")
    result = run(runner_app, rule_pipeline_dir, source, "-o", tmp_path / "brat", "-f", "brat")
    assert result.exit_code == EXIT_PARTIAL, result.output
    assert f"  {source}:line 2: the text begins with U+FEFF, which BRAT files cannot keep" in result.stderr
    assert sorted(p.name for p in (tmp_path / "brat").iterdir()) == ["a.ann", "a.txt"]


# -- Assertion (issue 15): a pipeline with clinical_context writes each entity's assertion. ----------------------

ASSERTION_NOTE = "Nega dor no peito.\r\nRefere dor lombar."


@pytest.fixture(scope="module")
def context_pipeline_dir(tmp_path_factory) -> Path:
    import spacy_clinical_pt.context  # noqa: F401  the factory, before the entry point is installed

    nlp = clinical_nlp()
    nlp.add_pipe("annotate_test_marks_dor")
    nlp.add_pipe("clinical_context")
    folder = tmp_path_factory.mktemp("context_pipeline") / "pipeline"
    nlp.to_disk(folder)
    return folder


def qualified_docs(context_pipeline_dir, notes=(("n1", ASSERTION_NOTE),)):
    nlp = spacy.load(context_pipeline_dir)
    return list(annotate_notes(nlp, [Note(doc_id, text, "test") for doc_id, text in notes]))


def test_jsonl_and_brat_carry_the_assertion(context_pipeline_dir, tmp_path):
    docs = qualified_docs(context_pipeline_dir)
    write_annotations(docs, tmp_path / "out.jsonl", "jsonl")
    (row,) = jsonl_rows(tmp_path / "out.jsonl")
    flags = {"is_negated": False, "is_uncertain": False, "is_historical": False, "is_hypothetical": False,
             "is_family": False}
    assert [{k: a[k] for k in ("start", "end", "assertion", *flags)} for a in row["annotations"]] == [
        {"start": 5, "end": 8, "assertion": "absent", **flags, "is_negated": True},
        {"start": 27, "end": 30, "assertion": "present", **flags},
    ]
    write_annotations(docs, tmp_path / "brat", "brat")
    assert (tmp_path / "brat" / "n1.ann").read_text(encoding="utf8").splitlines() == [
        "T1\tProblema 5 8\tdor", "A1\tNegation T1", "T2\tProblema 27 30\tdor"]


def test_html_draws_negated_entities_apart_and_show_prints_the_assertion(context_pipeline_dir, tmp_path):
    from spacy_clinical_pt.annotate import entity_lines
    from spacy_clinical_pt.annotate.write import NEGATED_COLOR

    docs = qualified_docs(context_pipeline_dir)
    write_annotations(docs, tmp_path / "out.html", "html", labels=["Problema"])
    page = (tmp_path / "out.html").read_text(encoding="utf8")
    assert "Problema (negado)" in page and NEGATED_COLOR in page
    assert page.count("Problema (negado)") == 1
    assert docs[0].spans["sc"][0].label_ == "Problema"  # the doc itself is not relabelled
    assert entity_lines(docs[0]) == [
        "Problema          5-8      0.200  absent       dor",
        "Problema         27-30     0.600  present      dor",
    ]


def test_without_clinical_context_nothing_about_assertion_is_written(rule_pipeline_dir, tmp_path):
    import spacy_clinical_pt.context  # noqa: F401  extensions registered, but no component ran

    from spacy_clinical_pt.annotate import entity_lines

    nlp = spacy.load(rule_pipeline_dir)
    docs = list(annotate_notes(nlp, [Note("n1", ASSERTION_NOTE, "test")]))
    write_annotations(docs, tmp_path / "out.jsonl", "jsonl")
    assert all("assertion" not in a for a in jsonl_rows(tmp_path / "out.jsonl")[0]["annotations"])
    write_annotations(docs, tmp_path / "out.html", "html", labels=["Problema"])
    assert "negado" not in (tmp_path / "out.html").read_text(encoding="utf8")
    assert entity_lines(docs[0])[0] == "Problema          5-8      0.200  dor"


def test_a_long_note_keeps_the_assertion_of_each_piece(context_pipeline_dir):
    """`Doc.from_docs` copies user data: clinical_context keeps only plain values there (the cue as token offsets),
    so the pieces of a long note join with their assertions; a Span kept there failed with E112."""
    nlp = spacy.load(context_pipeline_dir)
    nlp.max_length = 60
    text = "Nega dor no peito.\n\nRefere dor lombar há dois dias.\n\n" * 4
    [doc] = annotate_notes(nlp, [Note("long", text, "test")])
    assert doc.text == text and len(doc.spans["sc"]) == 8
    assert [s._.assertion for s in doc.spans["sc"]] == ["absent", "present"] * 4


def test_two_processes_carry_the_assertion(context_pipeline_dir):
    nlp = spacy.load(context_pipeline_dir)
    notes = [Note(f"n{i}", ASSERTION_NOTE, "test") for i in range(4)]
    docs = list(annotate_notes(nlp, notes, n_process=2, batch_size=1))
    assert [[s._.assertion for s in doc.spans["sc"]] for doc in docs] == [["absent", "present"]] * 4
