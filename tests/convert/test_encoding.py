"""Reading files whose encoding is unknown: UTF-8, cp1252, latin-1, BOMs, line ends and mixed files."""

import codecs

import pytest

from spacy_clinical_pt.convert.encoding import input_files, line_of, read_text, split_lines
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


# ---- line ends: only \r\n, \r and \n end a line --------------------------------------------------------

# Characters that str.splitlines() also takes for line ends, all legal inside a line of clinical text:
# form feed (page breaks of exported reports), NEL (0x85 is "…" in cp1252, "\x85" in latin-1 text),
# U+2028, the information separators \x1c-\x1e and vertical tab.
NOT_LINE_ENDS = "\x0c\x85\u2028\u2029\x1c\x1d\x1e\x0b"


def test_split_lines_splits_only_at_cr_lf_and_crlf():
    line = f"dor{NOT_LINE_ENDS}torácica"
    assert split_lines(f"{line}\r\nfebre\rtosse\n\nalta\n") == [line, "febre", "tosse", "", "alta"]
    assert split_lines("sem fim de linha") == ["sem fim de linha"]
    assert split_lines("") == [] and split_lines("\n") == [""]


def test_line_of_counts_cr_crlf_and_lf_line_ends():
    data = "Queixa\rDor\r\nFebre\x0c\x85\nAlta"
    assert line_of(data, data.index("Alta")) == 4
    assert line_of(data.encode("latin-1"), data.index("Alta")) == 4
    assert line_of(data, 0) == 1


def test_cp1252_note_with_cr_line_ends_names_the_right_line(tmp_path):
    path = write(tmp_path, "a.txt", NOTE.replace("\n", "\r").encode("cp1252"))
    report = ConversionReport()
    assert read_text(path, report) == NOTE.replace("\n", "\r")
    assert "first invalid byte at line 2" in report.notes[0]


# ---- a file that cannot be decoded: strict raises, lenient reports it and gives "" ----------------------

# A UTF-16 byte-order mark, then a high surrogate with no low one.
BAD_UTF16 = codecs.BOM_UTF16_LE + "Febre\n".encode("utf-16-le") + b"\x00\xd8a\x00"


def test_undecodable_file_is_a_strict_error_naming_file_line_and_offset(tmp_path):
    path = write(tmp_path, "a.txt", BAD_UTF16)
    with pytest.raises(ConversionError, match=r"a\.txt line 2: not valid utf-16-le \(byte offset 14\)"):
        read_text(path, ConversionReport())


def test_undecodable_file_in_lenient_mode_is_a_report_error_and_gives_empty_text(tmp_path):
    path = write(tmp_path, "a.txt", BAD_UTF16)
    report = ConversionReport(lenient=True)
    assert read_text(path, report) == ""
    assert report.errors == [{"where": f"{path} line 2", "problem": "not valid utf-16-le (byte offset 14)"}]
    blank = write(tmp_path, "b.txt", codecs.BOM_UTF16_LE + " \n".encode("utf-16-le"))  # blank once decoded
    assert read_text(blank, report) == ""
    assert report.errors[-1] == {"where": str(blank), "problem": "the file is empty"}
    # a given encoding the file does not fit is a per-file problem too; an unknown codec name is not
    latin = write(tmp_path, "c.txt", NOTE.encode("cp1252"))
    assert read_text(latin, report, encoding="utf-8") == ""
    assert report.errors[-1]["where"] == f"{latin} line 2"
    with pytest.raises(ConversionError, match="unknown encoding 'klingon-8'"):
        read_text(latin, ConversionReport(lenient=True), encoding="klingon-8")


@pytest.mark.parametrize("codec", ["rot13", "base64", "zlib"])
def test_a_codec_that_is_not_a_text_encoding_is_refused(tmp_path, codec):
    path = write(tmp_path, "a.txt", NOTE.encode("utf8"))
    with pytest.raises(ConversionError, match=f"{codec!r} is not a text encoding"):
        read_text(path, ConversionReport(lenient=True), encoding=codec)


# ---- cp1252 files holding mojibake are cp1252 files, not mixed ones -----------------------------------

# A CoNLL export from a clinical system, cp1252 on disk. Its lemma column holds "mÃªs", "realÃ§ar":
# UTF-8 text once mis-read as cp1252 and saved that way, whose cp1252 bytes are valid UTF-8 ("mês").
CP1252_WITH_MOJIBAKE = (
    "Doente\tn\tdoente\tO\n"
    "com\tprp\tcom\tO\n"
    "cefaleia\tn\tcefaleia\tB-C\n"
    "há\tv-fin\thaver\tB-DT\n"
    "três\tnum\ttrês\tI-DT\n"
    "meses\tn\tmÃªs\tI-DT\n"
    ".\tpunc\t.\tO\n"
    "\n"
    "Ressonância\tn\tressonância\tB-T\n"
    "magnética\tadj\tmagnético\tI-T\n"
    "com\tprp\tcom\tO\n"
    "realce\tv-fin\trealÃ§ar\tB-R\n"
    "após\tprp\tapós\tO\n"
    "gadolínio\tn\tgadolínio\tB-THER\n"
    "e\tconj-c\te\tO\n"
    "lesão\tn\tlesão\tB-C\n"
    "hipointensa\tadj\thipointenso\tI-C\n"
    "no\tprp\tno\tO\n"
    "tálamo\tn\ttálamo\tB-AS\n"
    ".\tpunc\t.\tO\n"
)


def test_cp1252_file_with_mojibake_is_read_as_cp1252_and_the_note_says_why(tmp_path):
    path = write(tmp_path, "caso.conll", CP1252_WITH_MOJIBAKE.encode("cp1252"))
    report = ConversionReport()
    assert read_text(path, report) == CP1252_WITH_MOJIBAKE  # "mÃªs" stays what the file holds
    (note,) = report.notes
    assert note.startswith(f"{path}: not UTF-8 (first invalid byte at line 4, byte offset 57); decoded as cp1252")
    assert "2 byte sequence(s) that are also valid UTF-8 (line 6: 'mÃªs')" in note and "mojibake" in note
    assert report.repaired == []


def test_a_really_mixed_clinical_note_is_still_mixed(tmp_path):
    utf8 = "Paciente hipertenso, refere dispneia aos médios esforços há três semanas.\n"
    cp1252 = "Evolução: melhora clínica, mantém diurese e aceitação da dieta.\n"
    path = write(tmp_path, "nota.txt", utf8.encode("utf8") + cp1252.encode("cp1252") + utf8.encode("utf8"))
    with pytest.raises(ConversionError, match=r"nota\.txt line 2: mixed encodings"):
        read_text(path, ConversionReport())
    report = ConversionReport(lenient=True)
    assert read_text(path, report) == utf8 + cp1252 + utf8
    assert [r["where"] for r in report.repaired] == [f"{path} line 2"]
