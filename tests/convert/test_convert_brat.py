"""BRAT standoff: reading, discontinuous entities, bad input (strict and lenient), round trip."""

import codecs
from pathlib import Path

import pytest
from helpers import FIXTURES

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
    # the attribute line `A1 Negado T5` is kept on its entity, the other kinds are counted
    assert entities["T5"].attributes == {"Negado": True} and entities["T1"].attributes == {}
    assert report.ignored_lines == {
        "# (note)": 1,
        "R (relation)": 1,
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
    assert summary[:2] == (2, 8) and not summary.skipped_attributes
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
    "content", [b"\xef\xbb\xbf", b"\xff\xfe\n\x00", b"\xfe\xff\x00\n"], ids=["utf-8 bom", "utf-16-le", "utf-16-be"]
)
def test_ann_with_only_a_byte_order_mark_is_a_note_without_entities(nlp, tmp_path, content):
    folder = write_pair(tmp_path / "in", "a", TEXT, "")
    (folder / "a.ann").write_bytes(content)  # what an editor saves for an empty file with a BOM
    report = convert(nlp, tmp_path, folder)
    assert (report.docs, report.entities, report.errors) == (1, 0, [])


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


ASSERTION_ANN = (
    "T1\tProblema 0 12\tDor toracica\n"
    "T2\tProblema 15 20\tfebre\n"
    "A1\tNegation T2\n"
    "M2\tCertainty T1 Speculated\n"
    "E1\tProblema:T1\n"
    "A3\tNegation E1\n"
)


def test_attribute_lines_are_kept_on_their_entities_and_read_as_gold_assertion(nlp, tmp_path):
    from spacy_clinical_pt.context.gold import gold_assertions

    folder = write_pair(tmp_path / "in", "a", TEXT, ASSERTION_ANN)
    report = ConversionReport()
    (record,) = read_brat(folder, report)
    assert [(e.id, e.attributes) for e in record.entities] == [
        ("T1", {"Certainty": "Speculated"}), ("T2", {"Negation": True})]
    assert report.ignored_lines == {"E (event)": 1, "A (attribute of an event)": 1}
    convert(nlp, tmp_path, folder)
    (doc,) = load_docs(tmp_path / "out.spacy")
    assert gold_assertions(doc) == {(0, 2, "Problema"): "possible", (3, 4, "Problema"): "absent"}
    # export writes them back as attribute lines, renumbered
    export_brat([doc], tmp_path / "back")
    assert (tmp_path / "back" / "a.ann").read_text(encoding="utf8").splitlines() == [
        "T1\tProblema 0 12\tDor toracica", "A1\tCertainty T1 Speculated",
        "T2\tProblema 15 20\tfebre", "A2\tNegation T2"]


MALFORMED_ATTRIBUTE = "malformed attribute line: expected 'An<TAB>Name Tn' or 'An<TAB>Name Tn Value'"


@pytest.mark.parametrize(
    "line, problem",
    [
        ("A1\tNegation T7", "attribute A1: no entity 'T7' in the file"),
        ("A1\tNegation", MALFORMED_ATTRIBUTE),
        ("A1\tCertainty T9 Speculated extra", MALFORMED_ATTRIBUTE),
        ("Ax\tNegation T9", MALFORMED_ATTRIBUTE),
        ("A1\tNegation T9\nA2\tNegation T9", "attribute A2: T9 already has 'Negation'"),
    ],
)
def test_bad_attribute_line_strict_names_file_and_line_lenient_drops_it(nlp, tmp_path, line, problem):
    folder = write_pair(tmp_path / "in", "a", TEXT, f"T9\tProblema 15 20\tfebre\n{line}\n")
    with pytest.raises(ConversionError) as error:
        convert(nlp, tmp_path, folder)
    assert problem in str(error.value)
    report = convert(nlp, tmp_path, folder, lenient=True)
    assert report.entities == 1 and [d["problem"] for d in report.dropped] == [problem]
    number = line.count("\n") + 2
    assert report.dropped[0]["where"].endswith(f"a.ann:line {number}")


def test_attribute_of_a_dropped_entity_is_dropped_with_it(nlp, tmp_path):
    folder = write_pair(tmp_path / "in", "a", TEXT, "T1\tProblema 0 12\tDor toracico\nA1\tNegation T1\n")
    report = convert(nlp, tmp_path, folder, lenient=True)
    assert report.entities == 0
    assert [d["problem"] for d in report.dropped][1:] == ["attribute A1 of T1, which was dropped"]


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


# --- file names: suffixes in any case, stems with dots ---------------------------------------------------


def test_upper_case_suffixes_are_read_like_lower_case_ones(nlp, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, txt, ann in (("A", "TXT", "ANN"), ("b", "txt", "ann"), ("c", "Txt", "ann")):
        (folder / f"{name}.{txt}").write_text(TEXT, encoding="utf8")
        (folder / f"{name}.{ann}").write_text("T1\tProblema 15 20\tfebre\n", encoding="utf8")
    records = list(read_brat(folder, ConversionReport()))
    assert [(r.doc_id, len(r.entities)) for r in records] == [("A", 1), ("b", 1), ("c", 1)]
    assert [r.doc_id for r in read_brat(folder / "A.ANN", ConversionReport())] == ["A"]


def test_an_upper_case_file_without_its_partner_is_reported(nlp, tmp_path):
    folder = write_pair(tmp_path / "in", "a", TEXT, "T1\tProblema 15 20\tfebre\n")
    (folder / "B.ANN").write_text("T1\tProblema 15 20\tfebre\n", encoding="utf8")
    (folder / "C.TXT").write_text(TEXT, encoding="utf8")
    report = convert(nlp, tmp_path, folder, lenient=True)
    assert report.docs == 1
    assert report.errors == [
        {"where": str(folder / "B.ANN"), "problem": "no text file B.txt beside it; annotations skipped"},
        {"where": str(folder / "C.TXT"), "problem": "no annotation file C.ann beside it; note skipped"},
    ]


def test_two_text_files_for_one_note_are_reported(nlp, tmp_path):
    folder = write_pair(tmp_path / "in", "a", TEXT, "T1\tProblema 15 20\tfebre\n")
    (folder / "a.TXT").write_text(TEXT, encoding="utf8")
    if len(list(folder.iterdir())) < 3:
        pytest.skip("this file system does not tell a.txt from a.TXT")
    with pytest.raises(ConversionError, match=r"a: several files for one note \(a\.TXT, a\.txt\); note skipped"):
        convert(nlp, tmp_path, folder)


def test_stems_with_dots_are_paired(nlp, tmp_path):
    folder = write_pair(tmp_path / "in", "2021.03.nota", TEXT, "T1\tProblema 15 20\tfebre\n")
    write_pair(folder, "b.ann", TEXT, "T1\tProblema 0 3\tDor\n")  # b.ann.txt and b.ann.ann
    records = list(read_brat(folder, ConversionReport()))
    assert [(r.doc_id, r.entities[0].label) for r in records] == [("2021.03.nota", "Problema"), ("b.ann", "Problema")]


# --- line ends: only \r\n, \r and \n end an .ann line ------------------------------------------------------

# Characters that str.splitlines() takes for line ends, legal inside the text column of a T line.
ODD = "\x0c\x85\u2028\u2029\x1c\x1d\x1e\x0b"


def test_text_column_with_characters_other_tools_split_lines_at(nlp, tmp_path):
    text = f"Dor{ODD}toracica e febre.\n"
    start = text.index("febre")
    ann = f"T1\tProblema 0 {start - 3}\tDor{ODD}toracica\nT2\tProblema {start} {start + 5}\tfebre\n"
    folder = write_pair(tmp_path / "in", "a", text, ann)
    report = convert(nlp, tmp_path, folder)
    assert (report.docs, report.entities, report.dropped) == (1, 2, [])
    bad = write_pair(tmp_path / "bad", "a", text, ann + "T3\tProblema 0 x\tDor\n")
    with pytest.raises(ConversionError, match=r"a\.ann:line 3: offsets are not integers"):
        convert(nlp, tmp_path, bad)


# --- offsets: ASCII digits only, no int() surprises ------------------------------------------------------


@pytest.mark.parametrize(
    "offsets, problem",
    [
        ("0 1_2", "offsets are not integers: '0 1_2'"),  # int() reads "1_2" as 12
        ("0 \u0661\u0662", "offsets are not integers"),  # int() reads Arabic-Indic digits
        ("+0 12", "offsets are not integers"),
        ("0 " + "9" * 5000, "offsets out of range"),  # int() refuses more than 4,300 digits
        ("0 " + str(2**63), "offsets out of range"),
        ("0 " + "9" * 18, "offsets 0-999999999999999999 beyond the text"),
        ("0 5;", "malformed offsets"),
        ("0 5;;7 9", "malformed offsets"),
        ("0 5; 7", "malformed offsets"),
    ],
)
def test_malformed_offsets_strict_error_lenient_drop(nlp, tmp_path, offsets, problem):
    folder = write_pair(tmp_path / "in", "a", TEXT, f"T9\tProblema 15 20\tfebre\nT1\tProblema {offsets}\tDor toracica\n")
    with pytest.raises(ConversionError) as error:
        convert(nlp, tmp_path, folder)
    assert "a.ann:line 2" in str(error.value) and problem in str(error.value)
    assert len(str(error.value)) < 300
    report = convert(nlp, tmp_path, folder, lenient=True)
    assert report.entities == 1 and [d["where"][-12:] for d in report.dropped] == ["a.ann:line 2"]


# --- lenient mode goes on after a file that cannot be read --------------------------------------------------

BAD_UTF16 = codecs.BOM_UTF16_LE + "Febre\n".encode("utf-16-le") + b"\x00\xd8a\x00"


def test_undecodable_note_or_ann_is_reported_and_the_other_notes_are_written(nlp, tmp_path):
    folder = write_pair(tmp_path / "in", "a", TEXT, "T1\tProblema 15 20\tfebre\n")
    write_pair(folder, "b", TEXT, "T1\tProblema 15 20\tfebre\n")
    write_pair(folder, "c", TEXT, "T1\tProblema 15 20\tfebre\n")
    (folder / "b.txt").write_bytes(BAD_UTF16)
    (folder / "c.ann").write_bytes(BAD_UTF16)
    with pytest.raises(ConversionError, match=r"b\.txt line 2: not valid utf-16-le \(byte offset 14\)"):
        convert(nlp, tmp_path, folder)
    report = convert(nlp, tmp_path, folder, lenient=True)
    assert (report.docs, report.entities) == (1, 1)
    assert report.errors == [
        {"where": f"{folder / 'b.txt'} line 2", "problem": "not valid utf-16-le (byte offset 14)"},
        {"where": str(folder / "b.ann"), "problem": "annotations skipped: the note b.txt could not be read"},
        {"where": f"{folder / 'c.ann'} line 2", "problem": "not valid utf-16-le (byte offset 14)"},
        {"where": str(folder / "c.txt"), "problem": "note skipped: its annotation file c.ann could not be read"},
    ]
    assert [doc.user_data["clinical_pt"]["doc_id"] for doc in load_docs(tmp_path / "out.spacy")] == ["a"]


@pytest.mark.parametrize(
    "content, encoding",
    [(b"\xc2\xa0\n", None), (b"\x1c", None), ("\n".encode("utf-16-le"), "utf-16-le")],
    ids=["no-break space", "file separator", "utf-16 without bom, --encoding"],
)
def test_ann_that_decodes_to_whitespace_is_a_note_without_entities(nlp, tmp_path, content, encoding):
    folder = write_pair(tmp_path / "in", "a", TEXT, "")
    if encoding:
        (folder / "a.txt").write_bytes(TEXT.encode(encoding))
    (folder / "a.ann").write_bytes(content)
    options = {"encoding": encoding} if encoding else {}
    report = convert(nlp, tmp_path, folder, **options)
    assert (report.docs, report.entities, report.errors) == (1, 0, [])
