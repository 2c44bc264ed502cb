"""BRAT standoff: reading, discontinuous entities, bad input (strict and lenient), round trip."""

import codecs
from pathlib import Path

import pytest
from conftest import FIXTURES

from spacy_clinical_pt.convert import convert_path, load_docs
from spacy_clinical_pt.convert.brat import read_brat
from spacy_clinical_pt.corpus import ConversionError, ConversionReport
from spacy_clinical_pt.export import export_brat

NOTES = FIXTURES / "brat" / "notas"


def t_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf8").splitlines() if line.startswith("T")]


def write_pair(folder: Path, name: str, text: str, ann: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.txt").write_text(text, encoding="utf8", newline="")
    (folder / f"{name}.ann").write_text(ann, encoding="utf8")
    return folder


def convert(nlp, tmp_path, source, **options):
    return convert_path(source, tmp_path / "out.spacy", format="brat", nlp=nlp, **options)


def test_reads_records_with_nested_and_discontinuous_entities():
    report = ConversionReport()
    records = list(read_brat(NOTES, report))
    assert [r.doc_id for r in records] == ["nota1", "nota2"]
    entities = {e.id: e for e in records[0].entities}
    assert len(entities) == 6
    assert entities["T3"].fragments == ((37, 42), (28, 32))  # order of the file kept
    assert (entities["T3"].start, entities["T3"].end) == (28, 42)
    assert entities["T1"].origin.endswith("nota1.ann:line 1")
    assert report.ignored_lines == {
        "# (note)": 1,
        "R (relation)": 1,
        "A (attribute)": 1,
        "N (normalization)": 1,
        "E (event)": 1,
    }


def test_covering_mode_keeps_nested_spans_and_covers_fragments(nlp, tmp_path):
    report = convert(nlp, tmp_path, NOTES)
    assert (report.docs, report.entities) == (2, 8)
    assert report.entities_per_label == {"Problema": 4, "Anatomia": 2, "Teste": 1, "Tratamento": 1}
    doc = load_docs(tmp_path / "out.spacy")[0]
    spans = {(s.text, s.label_) for s in doc.spans["sc"]}
    assert ("dor no peito", "Problema") in spans and ("peito", "Anatomia") in spans
    assert ("MMII com edema", "Problema") in spans  # first start to last end
    assert len(doc.spans["sc"]) == 6


def test_fragments_mode_shares_the_entity_id(nlp, tmp_path):
    report = convert(nlp, tmp_path, NOTES, discontinuous="fragments")
    assert report.entities == 8
    doc = load_docs(tmp_path / "out.spacy")[0]
    fragments = [s for s in doc.spans["sc"] if s.id_ == "T3"]
    assert sorted((s.text, s.label_) for s in fragments) == [("MMII", "Problema"), ("edema", "Problema")]
    assert len(doc.spans["sc"]) == 7


@pytest.mark.parametrize("mode", ["covering", "fragments"])
def test_round_trip_gives_identical_t_lines(nlp, tmp_path, mode):
    convert(nlp, tmp_path, NOTES, discontinuous=mode)
    summary = export_brat(load_docs(tmp_path / "out.spacy"), tmp_path / "back")
    assert summary == (2, 8)
    for name in ("nota1", "nota2"):
        assert t_lines(tmp_path / "back" / f"{name}.ann") == t_lines(NOTES / f"{name}.ann")
        assert (tmp_path / "back" / f"{name}.txt").read_bytes() == (NOTES / f"{name}.txt").read_bytes()


def test_single_file_of_a_pair_is_accepted():
    records = list(read_brat(NOTES / "nota2.ann", ConversionReport()))
    assert [(r.doc_id, len(r.entities)) for r in records] == [("nota2", 2)]


# --- bad input: strict mode names file and line, lenient mode lists it -------------------------------

TEXT = "Dor toracica e febre.\n"


def test_missing_path(nlp, tmp_path):
    with pytest.raises(ConversionError, match="nowhere: no such file or folder"):
        convert(nlp, tmp_path, tmp_path / "nowhere", lenient=True)


def test_folder_without_notes(nlp, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConversionError, match="no .txt or .ann files"):
        convert(nlp, tmp_path, tmp_path / "empty")


def test_ann_without_txt_and_txt_without_ann(nlp, tmp_path):
    folder = write_pair(tmp_path / "in", "a", TEXT, "T1\tProblema 0 12\tDor toracica\n")
    (folder / "b.ann").write_text("T1\tProblema 15 20\tfebre\n", encoding="utf8")
    (folder / "c.txt").write_text(TEXT, encoding="utf8")
    with pytest.raises(ConversionError, match=r"b\.ann: no text file b\.txt"):
        convert(nlp, tmp_path, folder)
    report = convert(nlp, tmp_path, folder, lenient=True)
    assert report.docs == 1 and report.entities == 1
    problems = {Path(e["where"]).name: e["problem"] for e in report.errors}
    assert "no text file b.txt" in problems["b.ann"]
    assert "no annotation file c.ann" in problems["c.txt"]


def test_empty_text_file(nlp, tmp_path):
    folder = write_pair(tmp_path / "in", "a", "", "")
    write_pair(folder, "b", TEXT, "T1\tProblema 15 20\tfebre\n")
    with pytest.raises(ConversionError, match=r"a\.txt: the file is empty"):
        convert(nlp, tmp_path, folder)
    report = convert(nlp, tmp_path, folder, lenient=True)
    assert report.docs == 1 and report.errors[0]["problem"] == "the file is empty"


def test_empty_ann_is_a_note_without_entities(nlp, tmp_path):
    folder = write_pair(tmp_path / "in", "a", TEXT, "")
    report = convert(nlp, tmp_path, folder)
    assert (report.docs, report.entities) == (1, 0)
    assert any("a.ann: no annotations" in note for note in report.notes)


@pytest.mark.parametrize(
    "line, problem",
    [
        ("T1\tProblema 0 12", "expected 3 tab-separated columns"),
        ("T1\tProblema 0 x\tDor toracica", "offsets are not integers"),
        ("T1\tProblema 0 5 12\tDor toracica", "malformed offsets"),
        ("T1\t0 12\tDor toracica", "expected 'label start end'"),
        ("X1\tProblema 0 12\tDor toracica", "unknown annotation line"),
        ("Tx\tProblema 0 12\tDor toracica", "malformed id"),
        ("T1\tProblema 0 40\tDor toracica", "beyond the text"),
        ("T1\tProblema 12 12\t", "is not before end"),
        ("T1\tProblema 0 12\tDor toracico", "does not match a.txt"),
    ],
)
def test_bad_line_strict_names_file_and_line_lenient_drops_it(nlp, tmp_path, line, problem):
    ann = f"T9\tProblema 15 20\tfebre\n{line}\n"
    folder = write_pair(tmp_path / "in", "a", TEXT, ann)
    with pytest.raises(ConversionError) as error:
        convert(nlp, tmp_path, folder)
    assert "a.ann:line 2" in str(error.value) and problem in str(error.value)
    report = convert(nlp, tmp_path, folder, lenient=True)
    assert report.entities == 1
    assert len(report.dropped) == 1
    assert report.dropped[0]["where"].endswith("a.ann:line 2") and problem in report.dropped[0]["problem"]


def test_duplicate_id_is_dropped(nlp, tmp_path):
    folder = write_pair(tmp_path / "in", "a", TEXT, "T1\tProblema 15 20\tfebre\nT1\tProblema 0 3\tDor\n")
    with pytest.raises(ConversionError, match=r"a\.ann:line 2: duplicate id T1"):
        convert(nlp, tmp_path, folder)


def test_crlf_offsets_computed_on_lf_text(nlp, tmp_path):
    text = "Queixa:\r\nDor toracica.\r\nFebre.\r\n"
    lf = text.replace("\r\n", "\n")
    start, end = lf.index("Febre"), lf.index("Febre") + 5
    folder = write_pair(tmp_path / "in", "a", text, f"T1\tProblema {start} {end}\tFebre\n")
    with pytest.raises(ConversionError) as error:
        convert(nlp, tmp_path, folder)
    assert "a.ann:line 1" in str(error.value) and "read as LF" in str(error.value)
    report = convert(nlp, tmp_path, folder, lenient=True)
    assert report.entities == 1 and "read with LF line ends" in report.repaired[0]["problem"]
    doc = load_docs(tmp_path / "out.spacy")[0]
    assert "\r" not in doc.text and [s.text for s in doc.spans["sc"]] == ["Febre"]


def test_crlf_text_with_matching_offsets_is_kept_as_is(nlp, tmp_path):
    text = "Queixa:\r\nFebre.\r\n"
    folder = write_pair(tmp_path / "in", "a", text, "T1\tProblema 9 14\tFebre\n")
    report = convert(nlp, tmp_path, folder)
    assert report.repaired == [] and load_docs(tmp_path / "out.spacy")[0].text == text


def test_byte_order_mark_is_removed_and_noted(nlp, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_bytes(codecs.BOM_UTF8 + TEXT.encode("utf8"))
    (folder / "a.ann").write_text("T1\tProblema 15 20\tfebre\n", encoding="utf8")
    report = convert(nlp, tmp_path, folder)
    assert report.entities == 1 and any("byte-order mark" in note for note in report.notes)


def test_cp1252_text_is_decoded_and_noted(nlp, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    text = "Dor torácica e febre.\n"
    (folder / "a.txt").write_bytes(text.encode("cp1252"))
    (folder / "a.ann").write_text("T1\tProblema 0 12\tDor torácica\n", encoding="utf8")
    report = convert(nlp, tmp_path, folder)
    assert report.entities == 1 and any("decoded as cp1252" in note for note in report.notes)
