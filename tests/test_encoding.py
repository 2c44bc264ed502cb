"""Reading files whose encoding is unknown: UTF-8, cp1252, latin-1, BOMs, line ends and mixed files."""

import codecs

import pytest

from spacy_clinical_pt.convert.encoding import input_files, read_text
from spacy_clinical_pt.corpus import ConversionError, ConversionReport

NOTE = "Paciente com dispneia e edema; nega febre.\nHipótese: insuficiência cardíaca — descompensação.\n"


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_utf8_is_read_without_notes(tmp_path):
    report = ConversionReport()
    assert read_text(write(tmp_path, "a.txt", NOTE.encode("utf8")), report) == NOTE
    assert report.notes == [] and report.repaired == []


def test_utf8_bom_is_removed_and_noted(tmp_path):
    report = ConversionReport()
    path = write(tmp_path, "a.txt", codecs.BOM_UTF8 + NOTE.encode("utf8"))
    assert read_text(path, report) == NOTE
    assert report.notes == [f"{path}: UTF-8 byte-order mark removed"]
    # asking for utf-8 explicitly still removes the mark
    assert read_text(path, ConversionReport(), encoding="UTF8") == NOTE


def test_utf16_bom_decides_the_codec(tmp_path):
    report = ConversionReport()
    path = write(tmp_path, "a.txt", codecs.BOM_UTF16_LE + NOTE.encode("utf-16-le"))
    assert read_text(path, report) == NOTE
    assert "utf-16-le" in report.notes[0]


def test_cp1252_is_detected_converted_and_noted(tmp_path):
    report = ConversionReport()
    path = write(tmp_path, "a.txt", NOTE.encode("cp1252"))
    assert read_text(path, report) == NOTE
    (note,) = report.notes
    assert str(path) in note and "decoded as cp1252" in note and "line 2" in note


def test_latin1_bytes_undefined_in_cp1252_fall_back_to_latin1(tmp_path):
    report = ConversionReport()
    data = "cora\xe7\xe3o ".encode("latin-1") + b"\x81"
    assert read_text(write(tmp_path, "a.txt", data), report) == "coração \x81"
    assert report.notes[0].endswith("decoded as latin-1")


def test_line_ends_are_kept(tmp_path):
    crlf = NOTE.replace("\n", "\r\n")
    assert read_text(write(tmp_path, "a.txt", crlf.encode("utf8")), ConversionReport()) == crlf


def test_given_encoding_that_does_not_fit_names_file_and_line(tmp_path):
    path = write(tmp_path, "a.txt", NOTE.encode("cp1252"))
    with pytest.raises(ConversionError, match=r"a\.txt line 2: not valid utf-8"):
        read_text(path, ConversionReport(), encoding="utf-8")
    with pytest.raises(ConversionError, match="unknown encoding"):
        read_text(path, ConversionReport(), encoding="klingon-8")
    assert read_text(path, ConversionReport(), encoding="latin-1") == NOTE.replace("—", "\x97")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ConversionError, match="no such file"):
        read_text(tmp_path / "absent.txt", ConversionReport())
    empty = write(tmp_path, "empty.txt", b" \n\r\n")
    with pytest.raises(ConversionError, match=r"empty\.txt: the file is empty"):
        read_text(empty, ConversionReport())
    report = ConversionReport(lenient=True)
    assert read_text(empty, report) == ""
    assert report.errors == [{"where": str(empty), "problem": "the file is empty"}]


MIXED = (
    "Nota de internação\n".encode("utf8")
    + "Paciente com pneumonia\n".encode("utf8")
    + "Evolução: melhora clínica\n".encode("cp1252")
    + "Alta hospitalar após 7 dias\n".encode("utf8")
)


def test_mixed_encodings_are_an_error_naming_the_line_in_strict_mode(tmp_path):
    path = write(tmp_path, "mixed.txt", MIXED)
    with pytest.raises(ConversionError, match=r"mixed\.txt line 3: mixed encodings"):
        read_text(path, ConversionReport())


def test_mixed_encodings_are_decoded_line_by_line_in_lenient_mode(tmp_path):
    path = write(tmp_path, "mixed.txt", MIXED)
    report = ConversionReport(lenient=True)
    text = read_text(path, report)
    assert text.splitlines() == [
        "Nota de internação",
        "Paciente com pneumonia",
        "Evolução: melhora clínica",
        "Alta hospitalar após 7 dias",
    ]
    assert [r["where"] for r in report.repaired] == [f"{path} line 3"]
    assert "cp1252" in report.repaired[0]["problem"]
    assert "mixed encodings" in report.notes[0]


def test_a_line_holding_both_encodings_keeps_its_utf8_characters(tmp_path):
    line = "ação ".encode("utf8") + "técnica".encode("cp1252") + b"\n"
    path = write(tmp_path, "mixed.txt", "diagnóstico\n".encode("utf8") + line)
    assert read_text(path, ConversionReport(lenient=True)) == "diagnóstico\nação técnica\n"


def test_input_files_lists_a_file_or_a_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ("b.xml", "a.XML", "sub/c.xml", "README.md", ".hidden/d.xml"):
        (tmp_path / name).write_text("x", encoding="utf8")
    report = ConversionReport()
    found = input_files(tmp_path, (".xml",), report)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.XML", "b.xml", "sub/c.xml"]
    assert input_files(tmp_path / "README.md", (".xml",), report) == [tmp_path / "README.md"]
    with pytest.raises(ConversionError, match="no such file or folder"):
        input_files(tmp_path / "nowhere", (".xml",), report)
    with pytest.raises(ConversionError, match="no .conll files"):
        input_files(tmp_path, (".conll",), ConversionReport())
