"""Token-per-row workbooks (.xlsx, CLINpt's upstream form) read by the CoNLL reader: same docs, sheet and row named."""

import datetime
import zipfile
from functools import lru_cache

import pytest
import spacy
from openpyxl import Workbook

from helpers import corpus_path
from spacy_clinical_pt.convert.conll import read_conll
from spacy_clinical_pt.convert.xlsx import _cell_text
from spacy_clinical_pt.corpus import ConversionError, ConversionReport, build_docs

HEADER = ("Token", "POS", "Lemma", "Tag")
CASE = [
    ("Doente", "n", "doente", "O"),
    ("com", "prp", "com", "O"),
    ("cefaleia", "n", "cefaleia", "B-C"),
    ("holocraniana", "adj", "holocraniano", "I-C"),
    (".", "punc", ".", "O"),
    (),  # an empty row ends the sentence
    ("Há", "v-fin", "haver", "B-DT"),
    (2, "num", 2, "I-DT"),
    ("meses", "n", "mês", "I-DT"),
    (None, "punc", None, "O"),  # so does a row whose token cell is empty
    ("TC", "n", "TC", "B-T"),
    ("normal", "adj", "normal", "B-R"),
]


@lru_cache(maxsize=1)
def blank_pt():
    return spacy.blank("pt")


def workbook(tmp_path, sheets, name="caso.xlsx"):
    """Write {sheet title: rows} as a workbook; an empty tuple is an empty row."""
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    path = tmp_path / name
    book.save(path)
    return path


def docs(records):
    """[(doc_id, tokens, [(span text, label)])] of the docs `build_docs` makes."""
    records = list(records)
    built = build_docs(blank_pt(), records, ConversionReport())
    return [
        (r.doc_id, [t.text for t in d], [(s.text, s.label_) for s in d.spans["sc"]]) for r, d in zip(records, built)
    ]


def test_a_workbook_and_the_same_rows_as_a_conll_file_give_identical_docs(tmp_path):
    xlsx = workbook(tmp_path, {"Sheet1": [HEADER, *CASE]})
    lines = ["\t".join("" if c is None else str(c) for c in row) for row in CASE]
    conll = tmp_path / "caso.conll"
    conll.write_text("\n".join("" if line.startswith("\t") else line for line in lines) + "\n", encoding="utf8")
    report = ConversionReport()
    (from_xlsx,) = read_conll(xlsx, report)
    (from_conll,) = read_conll(conll, ConversionReport())
    assert from_xlsx.text == from_conll.text == "Doente com cefaleia holocraniana .\nHá 2 meses\nTC normal"
    assert docs([from_xlsx]) == docs([from_conll])
    assert docs([from_xlsx])[0][2] == [
        ("cefaleia holocraniana", "C"), ("Há 2 meses", "DT"), ("TC", "T"), ("normal", "R"),
    ]  # fmt: skip
    assert [e.origin for e in from_xlsx.entities] == [f"{xlsx} sheet 'Sheet1' row {n}" for n in (4, 8, 12, 13)]
    assert report.notes == [
        f"{xlsx} sheet 'Sheet1' row 1: header row skipped ('Token', 'POS', 'Lemma', 'Tag')",
        f"{xlsx}: tag scheme detected as IOB2 in 1 file(s)",
    ]
    assert report.repaired == [] and report.dropped == [] and report.errors == []


def test_a_first_row_that_holds_a_tag_is_no_header(tmp_path):
    path = workbook(tmp_path, {"Sheet1": [("Token", "O"), ("febre", "B-C")]})
    report = ConversionReport()
    (record,) = read_conll(path, report)
    assert record.text == "Token febre" and not any("header" in n for n in report.notes)


def test_numbers_booleans_and_dates_as_tokens(tmp_path):
    rows = [("AAS", "B-M"), (100, "I-M"), (2.5, "B-V"), (10.0, "B-N"), (True, "O"), (datetime.date(2019, 3, 4), "B-DT")]
    path = workbook(tmp_path, {"Sheet1": rows})
    report = ConversionReport()
    (record,) = read_conll(path, report)
    assert record.text == "AAS 100 2.5 10 TRUE 2019-03-04"
    assert report.repaired == [
        {
            "where": f"{path} sheet 'Sheet1' row 6",
            "problem": "a date cell read as '2019-03-04'; Excel may have changed its text",
        }
    ]
    # the float form that openpyxl gives for cells stored as "10.0", and a time of day
    assert _cell_text(10.0) == "10" and _cell_text(-3.0) == "-3" and _cell_text(0.1) == "0.1"
    assert _cell_text(datetime.datetime(2019, 3, 4, 8, 30)) == "2019-03-04T08:30:00"


def test_every_sheet_is_a_document_in_workbook_order_and_empty_sheets_are_noted(tmp_path):
    sheets = {"Caso B": [("febre", "B-C")], "Vazia": [], "Caso A": [HEADER, ("tosse", "n", "tosse", "B-C")]}
    path = workbook(tmp_path, sheets)
    report = ConversionReport()
    records = list(read_conll(path, report))
    assert [(r.doc_id, r.text) for r in records] == [("caso-1", "febre"), ("caso-2", "tosse")]
    assert f"{path} sheet 'Vazia': empty sheet skipped" in report.notes
    empty = workbook(tmp_path, {"Sheet1": [], "Sheet2": [(), (None, None)]}, name="vazio.xlsx")
    with pytest.raises(ConversionError, match=r"vazio\.xlsx: the workbook is empty"):
        list(read_conll(empty, ConversionReport()))
    assert f"{path} sheet 'Caso A' row 1: header row skipped ('Token', 'POS', 'Lemma', 'Tag')" in report.notes


def test_repairs_name_the_sheet_and_row(tmp_path):
    rows = [HEADER, ("febre", "n", "febre", "B-C"), ("sem", "adv", "sem", "O"), ("tosse", "n", "tosse", "I-C")]
    path = workbook(tmp_path, {"Sheet1": rows})
    report = ConversionReport()
    (record,) = read_conll(path, report)
    assert [record.text[e.start : e.end] for e in record.entities] == ["febre", "tosse"]
    assert report.repaired == [
        {"where": f"{path} sheet 'Sheet1' row 4", "problem": "I-C after O starts a new entity (IOB2)"}
    ]


@pytest.mark.parametrize(
    "row, problem",
    [
        (("dor", "n", "dor", None), "malformed line: empty tag; read as an O token"),
        (
            ("dor", "n", "dor", "B-C", "ver"),  # a cell beyond the tag column is read as the tag, never ignored
            "malformed line: tag 'ver' has no B-/I-/E-/S-/L-/U- prefix and is not O; read as an O token",
        ),
        (
            ("dor", "n", "dor", "X-C"),
            "malformed line: tag 'X-C' has no B-/I-/E-/S-/L-/U- prefix and is not O; read as an O token",
        ),
    ],
)
def test_a_token_without_tag_or_with_an_unknown_tag_names_file_sheet_and_row(tmp_path, row, problem):
    # the tag column is the one most rows use: a row with no tag does not read its lemma as one
    rows = [HEADER, ("Refere", "v-fin", "referir", "O"), row, ("intensa", "adj", "intenso", "O")]
    path = workbook(tmp_path, {"Sheet1": rows})
    with pytest.raises(ConversionError) as caught:
        list(read_conll(path, ConversionReport()))
    assert str(caught.value) == f"{path} sheet 'Sheet1' row 3: {problem}"
    report = ConversionReport(lenient=True)
    (record,) = read_conll(path, report)
    assert record.text == "Refere dor intensa" and record.entities == []
    assert report.dropped == [{"where": f"{path} sheet 'Sheet1' row 3", "problem": problem}]


def not_a_workbook(path, kind):
    if kind == "text":
        path.write_text("febre\tB-C\n", encoding="utf8")
    elif kind == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notas.txt", "febre B-C")
    else:  # a workbook whose sheet XML is cut short
        good = workbook(path.parent, {"Sheet1": [("febre", "B-C")] * 50}, name="good.tmp.xlsx")
        with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as archive:
            for item in source.infolist():
                data = source.read(item.filename)
                archive.writestr(item, data[:300] if item.filename.endswith("sheet1.xml") else data)
        good.unlink()


@pytest.mark.parametrize("kind, error", [("text", "BadZipFile"), ("zip", "KeyError"), ("sheet", "ParseError")])
def test_a_file_that_is_not_a_workbook_is_a_clear_error_and_lenient_mode_reads_the_others(tmp_path, kind, error):
    bad = tmp_path / "bad.xlsx"
    not_a_workbook(bad, kind)
    workbook(tmp_path, {"Sheet1": [("febre", "B-C")]}, name="good.xlsx")
    (tmp_path / "notas.conll").write_text("tosse B-C\n", encoding="utf8")
    problem = f"not an Excel workbook (.xlsx) or a corrupt one ({error})"
    with pytest.raises(ConversionError) as caught:
        list(read_conll(bad, ConversionReport()))
    assert str(caught.value) == f"{bad}: {problem}"
    report = ConversionReport(lenient=True)
    assert [(r.doc_id, r.text) for r in read_conll(tmp_path, report)] == [("good", "febre"), ("notas", "tosse")]
    assert report.errors == [{"where": str(bad), "problem": problem}]


def test_a_folder_of_workbooks_skips_excel_lock_files_with_a_note(tmp_path):
    workbook(tmp_path, {"Sheet1": [("febre", "B-C")]}, name="caso.xlsx")
    (tmp_path / "~$caso.xlsx").write_bytes(b"\x00" * 165)  # what Excel leaves beside a workbook it has open
    report = ConversionReport()
    assert [r.doc_id for r in read_conll(tmp_path, report)] == ["caso"]
    assert f"{tmp_path / '~$caso.xlsx'}: Excel lock file skipped" in report.notes


def test_clinpt_cases_rebuilt_as_upstream_workbooks_give_the_records_of_their_conll_files(tmp_path):
    files = sorted(corpus_path("clinpt", "conll").glob("*.conll"))[:10]
    for file in files:
        # as upstream: a header row, digits stored as numbers, an empty row between sentences
        lines = file.read_bytes().decode("cp1252").splitlines()
        number = lambda c: int(c) if c.isdigit() and str(int(c)) == c else c  # noqa: E731
        rows = [HEADER] + [[number(c) for c in line.split("\t")] if line else () for line in lines]
        workbook(tmp_path, {"Sheet1": rows}, name=f"{file.stem}.xlsx")
    report = ConversionReport()
    from_xlsx = list(read_conll(tmp_path, report))
    from_conll = [record for file in files for record in read_conll(file, ConversionReport())]
    assert [(r.doc_id, r.text, [(e.start, e.end, e.label) for e in r.entities]) for r in from_xlsx] == [
        (r.doc_id, r.text, [(e.start, e.end, e.label) for e in r.entities]) for r in from_conll
    ]
    assert len(from_xlsx) == 10 and sum(len(r.entities) for r in from_xlsx) > 0
    assert report.repaired == [] and report.dropped == [] and report.errors == []
    assert sum("header row skipped" in n for n in report.notes) == 10


def test_a_formula_without_a_computed_value_is_an_error_naming_its_cell(nlp, tmp_path):
    """A program that does not compute formulas (openpyxl itself) saves them without a value: read as values they
    are empty, so the token would become a sentence break without a word."""
    from openpyxl import Workbook

    from spacy_clinical_pt.convert import convert_path
    from spacy_clinical_pt.corpus import ConversionError

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Caso"
    for row in (("Doente", "O"), ("com", "O"), ('=LOWER("CEFALEIA")', "B-C")):
        sheet.append(row)
    path = tmp_path / "formula.xlsx"
    workbook.save(path)
    with pytest.raises(ConversionError, match=r"formula.xlsx sheet 'Caso' row 3: a formula without a computed value "
                                              r"in column 1"):
        convert_path(path, tmp_path / "out.spacy", format="conll", nlp=nlp)
    report = convert_path(path, tmp_path / "out.spacy", format="conll", nlp=nlp, lenient=True)
    assert [e["where"] for e in report.errors] == [f"{path} sheet 'Caso' row 3"]
