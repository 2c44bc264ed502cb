"""BRAT standoff: a folder of `.txt` notes, each with an `.ann` file beside it.

Text-bound lines are read as entities:

    T30<TAB>Problema 695 699;704 709<TAB>MMII edema

One or several `start end` fragments (a discontinuous entity), separated by `;`. The text column must
match the offsets; for a discontinuous entity BRAT writes the fragment texts joined by one space. Relation,
event, attribute, normalisation and note lines (`R`, `E`, `A`/`M`, `N`, `*`, `#`) are counted in the
report's `ignored_lines`, never fatal.

Annotation tools often compute offsets on text with `\\n` line ends while the `.txt` on disk has `\\r\\n`.
When every mismatch of a file disappears with line ends read as `\\n`, lenient mode reads the note that way
(and reports it as repaired); strict mode stops with an error that says so.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator, NamedTuple

from ..corpus import ConversionError, ConversionReport, Entity, Record, excerpt
from .encoding import read_text

# The first character of a line says what it is (BRAT standoff format).
IGNORED_KINDS = {
    "R": "R (relation)",
    "E": "E (event)",
    "A": "A (attribute)",
    "M": "A (attribute)",  # the older name of attribute lines
    "N": "N (normalization)",
    "*": "* (equivalence)",
    "#": "# (note)",
}
TEXT_BOUND_ID = re.compile(r"T\d+$")
FRAGMENT = re.compile(r"(\S+) (\S+)$")


class TextBound(NamedTuple):
    """One `T` line before it is checked against the note text."""

    id: str
    label: str
    fragments: tuple[tuple[int, int], ...]
    quoted: str  # the text column
    where: str  # "FILE:line N"


def read_brat(path: Path, report: ConversionReport, *, encoding: str | None = None) -> Iterator[Record]:
    """Records from a BRAT folder (searched recursively), or from one `.txt`/`.ann` pair.

    path: the folder, or either file of a pair.
    encoding: the encoding of the `.txt` and `.ann` files; default UTF-8 with a cp1252/latin-1 fallback.
    Each record's id is the note's path relative to the folder, without suffix ("train/9053_goldstandard").
    Each entity keeps its `T` id and its fragments; its origin is "FILE.ann:line N".
    """
    path = Path(path)
    for txt_path, ann_path, doc_id in _pairs(path, report):
        text = read_text(txt_path, report, encoding)
        if not text:
            continue  # empty note: reported by read_text
        text_bounds = list(_read_ann(ann_path, report, encoding))
        text = _check_text(text, text_bounds, txt_path, ann_path, report)
        entities = [
            Entity(
                min(start for start, _ in tb.fragments),
                max(end for _, end in tb.fragments),
                tb.label,
                fragments=tb.fragments if len(tb.fragments) > 1 else (),
                id=tb.id,
                origin=tb.where,
            )
            for tb in text_bounds
        ]
        yield Record(doc_id, text, entities, str(txt_path))


def _pairs(path: Path, report: ConversionReport) -> Iterator[tuple[Path, Path, str]]:
    """(txt, ann, doc_id) for every note; a `.txt` without `.ann` (or the reverse) is an error."""
    if not path.exists():
        raise ConversionError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix not in (".txt", ".ann"):
            raise ConversionError(f"{path}: a BRAT input is a folder, a .txt or an .ann file")
        root, stems = path.parent, {path.with_suffix("")}
    else:
        root = path
        stems = {p.with_suffix("") for p in path.rglob("*") if p.suffix in (".txt", ".ann") and p.is_file()}
        if not stems:
            report.error(str(path), "no .txt or .ann files in this folder")
            return
    for stem in sorted(stems):
        txt_path, ann_path = stem.with_suffix(".txt"), stem.with_suffix(".ann")
        if not txt_path.exists():
            report.error(str(ann_path), f"no text file {txt_path.name} beside it; annotations skipped")
            continue
        if not ann_path.exists():
            report.error(str(txt_path), f"no annotation file {ann_path.name} beside it; note skipped")
            continue
        yield txt_path, ann_path, stem.relative_to(root).as_posix()


def _read_ann(ann_path: Path, report: ConversionReport, encoding: str | None) -> Iterator[TextBound]:
    """The `T` lines of an `.ann` file; other kinds are counted, malformed lines reported."""
    if not ann_path.read_bytes().strip():
        # BRAT writes an empty .ann for a note nobody annotated: legal, but worth knowing.
        report.note(f"{ann_path}: no annotations")
        return
    seen: set[str] = set()
    for number, line in enumerate(read_text(ann_path, report, encoding).splitlines(), start=1):
        where = f"{ann_path}:line {number}"
        if not line.strip():
            continue
        kind = line[0]
        if kind in IGNORED_KINDS:
            report.ignored_lines[IGNORED_KINDS[kind]] += 1
            continue
        if kind != "T":
            report.drop(where, f"unknown annotation line (starts with {kind!r}, expected T, R, E, A, M, N, * or #)")
            continue
        text_bound = _parse_text_bound(line, where, report)
        if text_bound is None:
            continue
        if text_bound.id in seen:
            report.drop(where, f"duplicate id {text_bound.id}")
            continue
        seen.add(text_bound.id)
        yield text_bound


def _parse_text_bound(line: str, where: str, report: ConversionReport) -> TextBound | None:
    """`Tn<TAB>Label start end[;start end...]<TAB>text` (None after reporting a malformed line)."""
    columns = line.split("\t", 2)
    if len(columns) != 3:
        report.drop(where, "malformed T line: expected 3 tab-separated columns (id, 'label offsets', text)")
        return None
    entity_id, type_and_offsets, quoted = columns
    if not TEXT_BOUND_ID.match(entity_id):
        report.drop(where, f"malformed id {excerpt(entity_id)!r}: expected T followed by a number")
        return None
    label, _, offsets = type_and_offsets.partition(" ")
    if not label or len(offsets.split(";")[0].split()) < 2:
        report.drop(where, "malformed T line: expected 'label start end' in the second column")
        return None
    fragments = []
    for piece in offsets.split(";"):
        match = FRAGMENT.match(piece.strip())
        if match is None:
            report.drop(where, f"malformed offsets {excerpt(offsets)!r}: expected 'start end[;start end...]'")
            return None
        try:
            fragments.append((int(match.group(1)), int(match.group(2))))
        except ValueError:
            report.drop(where, f"offsets are not integers: {excerpt(piece)!r}")
            return None
    return TextBound(entity_id, label, tuple(fragments), quoted, where)


def _quoted_text(text: str, fragments: tuple[tuple[int, int], ...]) -> str | None:
    """What BRAT writes in the text column for these offsets, or None when they fall outside the text."""
    if any(start < 0 or end > len(text) or start >= end for start, end in fragments):
        return None  # the builder reports bad offsets with their own message
    # BRAT joins fragments with one space and keeps each .ann line on one line.
    return " ".join(text[start:end] for start, end in fragments).replace("\r\n", " ").replace("\n", " ")


def _mismatches(text: str, text_bounds: list[TextBound]) -> list[tuple[TextBound, str]]:
    """The text-bounds whose text column differs from the text at their offsets, with what is there."""
    found = []
    for tb in text_bounds:
        expected = _quoted_text(text, tb.fragments)
        if expected is not None and expected != tb.quoted:
            found.append((tb, expected))
    return found


def _check_text(
    text: str, text_bounds: list[TextBound], txt_path: Path, ann_path: Path, report: ConversionReport
) -> str:
    """The note text against which the offsets hold; mismatching `T` lines are dropped from `text_bounds`.

    Returns the text as read, or with LF line ends when that repairs every mismatch (lenient mode).
    Strict mode raises on the first mismatch.
    """
    mismatches = _mismatches(text, text_bounds)
    if not mismatches:
        return text
    if "\r\n" in text:
        lf_text = text.replace("\r\n", "\n")
        if not _mismatches(lf_text, text_bounds):
            tb = mismatches[0][0]
            message = (
                f"{len(mismatches)} entities do not match {txt_path.name} as written (CRLF line ends) but "
                f"all match when its line ends are read as LF: the offsets were computed on LF text"
            )
            if not report.lenient:
                raise ConversionError(f"{tb.where}: {message}; use --lenient to read the note with LF line ends")
            report.repair(str(ann_path), message + "; the note was read with LF line ends")
            return lf_text
    for tb, expected in mismatches:
        report.drop(
            tb.where,
            f"text column '{excerpt(tb.quoted)}' does not match {txt_path.name} at "
            f"{';'.join(f'{s} {e}' for s, e in tb.fragments)} ('{excerpt(expected)}')",
        )
        text_bounds.remove(tb)
    return text
