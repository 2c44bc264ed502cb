"""Reading text files whose encoding is not known: clinical exports are often cp1252 or latin-1.

`read_text` decodes a whole file: UTF-8 when it is valid UTF-8, else cp1252 (then latin-1), and the report
says which. A file that mixes both (some lines hold valid UTF-8 multibyte characters, others bytes that are
not UTF-8, as happens when notes from two systems are pasted together) is an error in strict mode, naming
the file and the first line that is not UTF-8; in lenient mode each line is decoded on its own and every
line decoded as cp1252 is listed as repaired.

A cp1252 file may hold byte sequences that are valid UTF-8 without being UTF-8 text: mojibake such as
`mÃªs` (UTF-8 text once mis-read as cp1252 and saved that way; its cp1252 bytes are the UTF-8 bytes of
`mês`). The bytes alone cannot tell such a line from a pasted UTF-8 line, so the whole file decides: when
the UTF-8 characters are few against the file's cp1252 characters (`MOJIBAKE_SHARE`), the file is one
cp1252 file and the note names the sequences read as mojibake; otherwise it is mixed.

Lines end at "\\r\\n", "\\r" or "\\n" only (`split_lines`, `line_of`): `str.splitlines` also splits at form
feeds, "\\x85", U+2028 and other characters that are legal inside a line of an annotation file.

`input_files` lists the files a reader should read for a path that is one file or a folder of them.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Iterable

from ..corpus import ConversionError, ConversionReport, excerpt

FALLBACK_ENCODINGS = ("cp1252", "latin-1")
# A well-formed UTF-8 multibyte sequence (RFC 3629): seeing one in a file that is not valid UTF-8 as a whole
# means the file mixes encodings, or is a cp1252 file holding mojibake.
UTF8_MULTIBYTE = re.compile(
    rb"[\xC2-\xDF][\x80-\xBF]"
    rb"|\xE0[\xA0-\xBF][\x80-\xBF]|[\xE1-\xEC\xEE\xEF][\x80-\xBF]{2}|\xED[\x80-\x9F][\x80-\xBF]"
    rb"|\xF0[\x90-\xBF][\x80-\xBF]{2}|[\xF1-\xF3][\x80-\xBF]{3}|\xF4[\x80-\x8F][\x80-\xBF]{2}"
)
# At most this share of a non-UTF-8 file's non-ASCII characters may come from valid UTF-8 lines for the
# file to be read as one cp1252 file with mojibake (such as CLINpt's, whose lemma column holds "mÃªs"),
# well below the share of a note pasted together from a UTF-8 and a cp1252 system, about one half.
MOJIBAKE_SHARE = 0.25
UTF16_BOMS = ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
LINE_BREAK = re.compile(r"\r\n|\r|\n")


class DecodeError(ConversionError):
    """A file whose bytes cannot be decoded: a problem of that file, which lenient mode reports and skips.

    where: the file and line ("notes/a.txt line 3"); problem: what is wrong there.
    """

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


def split_lines(text: str) -> list[str]:
    """The lines of `text` without their line ends, which are "\\r\\n", "\\r" or "\\n" only.

    Like `str.splitlines()` (no last empty line after a final line end), except that form feeds, "\\x85",
    U+2028/U+2029, "\\x0b" and "\\x1c"-"\\x1e" stay inside their line.
    """
    lines = LINE_BREAK.split(text)
    if lines[-1] == "":
        lines.pop()
    return lines


# More digits cannot be an offset into a note (and int() refuses over 4,300 digits).
OFFSET_DIGITS = 18


def offset_problem(pieces: Iterable[str], pattern: re.Pattern[str]) -> str | None:
    """Why `int()` must not read these offset strings, or None when every piece is an offset.

    pattern: the reader's offset syntax (ASCII digits only: `int()` also reads "1_2", "+5" and other scripts'
        digits). A piece that matches but has over `OFFSET_DIGITS` digits is "out of range".
    """
    pieces = list(pieces)
    if not all(pattern.match(piece) for piece in pieces):
        return "offsets are not integers"
    if any(len(piece.strip()) > OFFSET_DIGITS for piece in pieces):
        return "offsets out of range"
    return None


def line_of(data: bytes | str, offset: int) -> int:
    """The 1-based line number of `offset` (a byte or character offset) in `data`; lines as `split_lines`."""
    head = data[:offset]
    if isinstance(head, bytes):
        return head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1
    return head.count("\n") + head.count("\r") - head.count("\r\n") + 1


def input_files(path: str | Path, suffixes: Iterable[str], report: ConversionReport) -> list[Path]:
    """The files to read for `path`: the file itself, or the files under the folder with one of `suffixes`.

    path: one file (read whatever its suffix) or a folder (searched recursively, hidden files skipped).
    suffixes: lower-case suffixes with the dot, e.g. (".xml",).
    A missing path raises `ConversionError`; a folder with no matching file is a report error.
    """
    path = Path(path)
    if not path.exists():
        raise ConversionError(f"{path}: no such file or folder")
    if path.is_file():
        return [path]
    wanted = {suffix.lower() for suffix in suffixes}
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.suffix.lower() in wanted
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not files:
        report.error(str(path), f"no {'/'.join(sorted(wanted))} files in this folder")
    return files


def read_text(path: str | Path, report: ConversionReport, encoding: str | None = None) -> str:
    """The text of `path`, decoded as `encoding`, else UTF-8, else cp1252/latin-1 (and the report says so).

    path: the file to read.
    report: collects notes (encoding used, BOM removed) and, in lenient mode, the lines repaired.
    encoding: a codec name to use instead of detection.
    A byte-order mark (UTF-8, or UTF-16 which then decides the codec) is removed and noted. Line ends are
    kept as they are: offsets in annotation files count them.
    A file that is empty (or blank), cannot be read or cannot be decoded is a report error naming the
    file (and line and byte offset where known) and gives "": callers skip a file whose text is "". Strict
    mode raises `ConversionError` instead. A missing path and an unknown codec name always raise.
    """
    path = Path(path)
    if not path.exists():
        raise ConversionError(f"{path}: no such file")
    if not path.is_file():
        raise ConversionError(f"{path}: not a file")
    try:
        data = path.read_bytes()
    except OSError as err:
        report.error(str(path), f"cannot be read ({err.strerror or type(err).__name__})")
        return ""
    try:
        text = decode_bytes(data, str(path), report, encoding)
    except DecodeError as err:
        report.error(err.where, err.problem)
        return ""
    if not text.strip():
        report.error(str(path), "the file is empty")
        return ""
    return text


def decode_bytes(data: bytes, where: str, report: ConversionReport, encoding: str | None = None) -> str:
    """Decode the bytes of one file as `read_text` does; `where` names the file in messages and notes.

    Raises `DecodeError` (a `ConversionError`) when the bytes cannot be decoded, in lenient mode too
    (`read_text` turns it into a report error), and `ConversionError` for an unknown codec name.
    """
    if encoding is not None:
        encoding = text_codec(encoding)
    skipped = 0  # bytes of a removed byte-order mark: messages give offsets into the file
    if data.startswith(codecs.BOM_UTF8):
        report.note(f"{where}: UTF-8 byte-order mark removed")
        data, skipped = data[len(codecs.BOM_UTF8):], len(codecs.BOM_UTF8)
        if encoding == "utf-8":
            encoding = None  # "utf-8" asked for, and the BOM agrees: detection gives the same, minus the BOM
    for bom, codec in UTF16_BOMS:
        if encoding is None and data.startswith(bom):
            report.note(f"{where}: {codec.upper()} byte-order mark found; decoded as {codec}")
            encoding = codec
            data, skipped = data[len(bom):], len(bom)
    if encoding is not None:
        try:
            return data.decode(encoding)
        except ValueError as err:  # UnicodeDecodeError, or the UnicodeError of codecs such as idna
            start = getattr(err, "start", None)
            if start is None:
                raise DecodeError(where, f"not valid {encoding}") from None
            raise DecodeError(
                f"{where} line {_line_of_byte(data, start, encoding)}",
                f"not valid {encoding} (byte offset {start + skipped})",
            ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        first_bad = err.start
    # bytes.splitlines splits at b"\r\n", b"\r" and b"\n" only, as `split_lines` does.
    lines = data.splitlines(keepends=True)
    bad_lines = [number for number, line in enumerate(lines, start=1) if not _is_utf8(line)]
    # UTF-8 evidence comes from whole valid lines only: a cp1252 line may hold a byte pair that happens
    # to be a UTF-8 sequence, and a pure cp1252 file must not be mistaken for a mixed one.
    bad = set(bad_lines)
    utf8_lines = [n for n, line in enumerate(lines, start=1) if n not in bad and UTF8_MULTIBYTE.search(line)]
    utf8_chars = sum(len(UTF8_MULTIBYTE.findall(lines[n - 1])) for n in utf8_lines)
    other_chars = sum(byte >= 0x80 for n in bad_lines for byte in UTF8_MULTIBYTE.sub(b"", lines[n - 1]))
    if utf8_chars > MOJIBAKE_SHARE * (utf8_chars + other_chars):
        return _decode_mixed(lines, bad_lines, where, report)
    text, codec = _decode_fallback(data)
    note = (
        f"{where}: not UTF-8 (first invalid byte at line {line_of(data, first_bad)}, byte offset "
        f"{first_bad + skipped}); decoded as {codec}"
    )
    if utf8_lines:
        line = lines[utf8_lines[0] - 1]
        # cp1252 and latin-1 give one character per byte: byte offsets are character offsets
        word = _word_at(line.decode(codec), UTF8_MULTIBYTE.search(line).start())
        note += (
            f" as a whole: {utf8_chars} byte sequence(s) that are also valid UTF-8 (line {utf8_lines[0]}: "
            f"'{excerpt(word)}') are read as {codec} mojibake, being few against the file's {other_chars} "
            f"other non-ASCII characters"
        )
    report.note(note)
    return text


def text_codec(encoding: str) -> str:
    """The normalized name of a text codec ("UTF8" -> "utf-8"); `ConversionError` when it is none."""
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise ConversionError(f"unknown encoding {encoding!r}") from None
    # bytes.decode refuses the codecs that are no text encoding (rot13, base64, zlib) with a LookupError
    if not getattr(info, "_is_text_encoding", True):
        raise ConversionError(f"{encoding!r} is not a text encoding")
    return info.name


def _word_at(text: str, position: int) -> str:
    """The whitespace-delimited word of `text` around `position`."""
    start = position
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    end = position
    while end < len(text) and not text[end].isspace():
        end += 1
    return text[start:end]


def _line_of_byte(data: bytes, offset: int, codec: str) -> int:
    """The line of byte `offset` in `data` encoded as `codec` (UTF-16 line ends are two bytes)."""
    try:
        head = data[:offset].decode(codec, errors="replace")
    except ValueError:  # a codec without the "replace" handler: count the bytes of line ends
        return line_of(data, offset)
    return line_of(head, len(head))


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decode_fallback(data: bytes) -> tuple[str, str]:
    """Decode with the first fallback codec that accepts `data`; latin-1 accepts every byte."""
    for codec in FALLBACK_ENCODINGS:
        try:
            return data.decode(codec), codec
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _decode_mixed(lines: list[bytes], bad_lines: list[int], where: str, report: ConversionReport) -> str:
    """A file with UTF-8 characters and bytes that are not UTF-8: strict error, else line-by-line decoding.

    In lenient mode valid UTF-8 stays UTF-8, even inside a line that also holds cp1252 bytes, and each
    line that needed the fallback is listed as repaired.
    """
    if not report.lenient:
        raise DecodeError(
            f"{where} line {bad_lines[0]}",
            f"mixed encodings: the file holds UTF-8 characters but line {bad_lines[0]} is not UTF-8 "
            f"({len(bad_lines)} such line(s)); use --lenient to decode it line by line",
        )
    report.note(f"{where}: mixed encodings; {len(bad_lines)} line(s) not UTF-8 decoded as cp1252/latin-1")
    bad = set(bad_lines)
    pieces = []
    for number, line in enumerate(lines, start=1):
        if number in bad:
            piece, codecs_used = _decode_line_with_fallback(line)
            report.repair(f"{where} line {number}", f"mixed encodings: bytes not UTF-8 decoded as {codecs_used}")
        else:
            piece = line.decode("utf-8")
        pieces.append(piece)
    return "".join(pieces)


def _decode_line_with_fallback(line: bytes) -> tuple[str, str]:
    """Decode `line` as UTF-8 where it is valid and each invalid byte run with the fallback codecs.

    Returns (text, the fallback codecs used, joined by "/").
    """
    pieces: list[str] = []
    used: list[str] = []
    position = 0
    while position < len(line):
        try:
            pieces.append(line[position:].decode("utf-8"))
            break
        except UnicodeDecodeError as err:
            pieces.append(line[position : position + err.start].decode("utf-8"))
            piece, codec = _decode_fallback(line[position + err.start : position + err.end])
            pieces.append(piece)
            if codec not in used:
                used.append(codec)
            position += err.end
    return "".join(pieces), "/".join(used)
