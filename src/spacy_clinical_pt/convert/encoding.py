"""Reading text files whose encoding is not known: clinical exports are often cp1252 or latin-1.

`read_text` decodes a whole file: UTF-8 when it is valid UTF-8, else cp1252 (then latin-1), and the report
says which. A file that mixes both (some lines hold valid UTF-8 multibyte characters, others bytes that are
not UTF-8, as happens when notes from two systems are pasted together) is an error in strict mode, naming
the file and the first line that is not UTF-8; in lenient mode each line is decoded on its own and every
line decoded as cp1252 is listed as repaired.

`input_files` lists the files a reader should read for a path that is one file or a folder of them.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Iterable

from ..corpus import ConversionError, ConversionReport

FALLBACK_ENCODINGS = ("cp1252", "latin-1")
# A well-formed UTF-8 multibyte sequence (RFC 3629): seeing one in a file that is not valid UTF-8 as a whole
# means the file mixes encodings, rather than being a plain cp1252/latin-1 file.
UTF8_MULTIBYTE = re.compile(
    rb"[\xC2-\xDF][\x80-\xBF]"
    rb"|\xE0[\xA0-\xBF][\x80-\xBF]|[\xE1-\xEC\xEE\xEF][\x80-\xBF]{2}|\xED[\x80-\x9F][\x80-\xBF]"
    rb"|\xF0[\x90-\xBF][\x80-\xBF]{2}|[\xF1-\xF3][\x80-\xBF]{3}|\xF4[\x80-\x8F][\x80-\xBF]{2}"
)
UTF16_BOMS = ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def line_of(data: bytes | str, offset: int) -> int:
    """The 1-based line number of `offset` (a byte or character offset) in `data`."""
    newline = b"\n" if isinstance(data, bytes) else "\n"
    return data.count(newline, 0, offset) + 1  # type: ignore[arg-type]


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
    encoding: a codec name to use instead of detection; a file that is not valid in it raises
        `ConversionError` naming the file and line.
    A byte-order mark (UTF-8, or UTF-16 which then decides the codec) is removed and noted. Line ends are
    kept as they are: offsets in annotation files count them. An empty file is a report error (strict
    mode raises) and gives "".
    """
    path = Path(path)
    if not path.exists():
        raise ConversionError(f"{path}: no such file")
    if not path.is_file():
        raise ConversionError(f"{path}: not a file")
    data = path.read_bytes()
    if not data.strip():
        report.error(str(path), "the file is empty")
        return ""
    return decode_bytes(data, str(path), report, encoding)


def decode_bytes(data: bytes, where: str, report: ConversionReport, encoding: str | None = None) -> str:
    """Decode the bytes of one file as `read_text` does; `where` names the file in messages and notes."""
    if encoding is not None:
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            raise ConversionError(f"{where}: unknown encoding {encoding!r}") from None
    if data.startswith(codecs.BOM_UTF8):
        report.note(f"{where}: UTF-8 byte-order mark removed")
        data = data[len(codecs.BOM_UTF8):]
        if encoding == "utf-8":
            encoding = None  # "utf-8" asked for, and the BOM agrees: detection gives the same, minus the BOM
    for bom, codec in UTF16_BOMS:
        if encoding is None and data.startswith(bom):
            report.note(f"{where}: {codec.upper()} byte-order mark found; decoded as {codec}")
            encoding = codec
            data = data[len(bom):]
    if encoding is not None:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as err:
            raise ConversionError(
                f"{where} line {line_of(data, err.start)}: not valid {encoding} (byte offset {err.start})"
            ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        first_bad = err.start
    lines = data.splitlines(keepends=True)
    bad_lines = [number for number, line in enumerate(lines, start=1) if not _is_utf8(line)]
    # UTF-8 evidence comes from whole valid lines only: a cp1252 line may hold a byte pair that happens
    # to be a UTF-8 sequence, and a pure cp1252 file must not be mistaken for a mixed one.
    bad = set(bad_lines)
    if any(UTF8_MULTIBYTE.search(line) for number, line in enumerate(lines, start=1) if number not in bad):
        return _decode_mixed(lines, bad_lines, where, report)
    text, codec = _decode_fallback(data)
    report.note(
        f"{where}: not UTF-8 (first invalid byte at line {line_of(data, first_bad)}, byte offset {first_bad}); "
        f"decoded as {codec}"
    )
    return text


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
        raise ConversionError(
            f"{where} line {bad_lines[0]}: mixed encodings: the file holds UTF-8 characters but line "
            f"{bad_lines[0]} is not UTF-8 ({len(bad_lines)} such line(s)); use --lenient to decode it line by line"
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
