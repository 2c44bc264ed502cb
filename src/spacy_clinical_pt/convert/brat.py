"""BRAT standoff: a folder of `.txt` notes, each with an `.ann` file beside it.

Text-bound lines are read as entities:

    T30<TAB>Problema 695 699;704 709<TAB>MMII edema

One or several `start end` fragments (a discontinuous entity), separated by `;`. The text column must
match the offsets; for a discontinuous entity BRAT writes the fragment texts joined by one space.

Attribute lines (`A`, or the older `M`) are kept on their entity's `attributes`, a binary attribute as `True`,
a valued one as its value (what `context.gold.gold_assertion` reads, and `export.export_brat` writes back):

    A1<TAB>Negation T3                ->  {"Negation": True}
    A2<TAB>Certainty T3 Speculated    ->  {"Certainty": "Speculated"}

An attribute of an event (`E` id) is counted in `ignored_lines`; one of an unknown or dropped entity, a second
value for one name, or a malformed line is dropped (reported). Relation, event, normalisation and note lines
(`R`, `E`, `N`, `*`, `#`) are counted in the report's `ignored_lines`, never fatal.

Notes and annotation files pair by name, whatever the case of their suffixes (`a.TXT` with `a.ann`);
a `.txt` without its `.ann` (or the reverse) is an error. Lines of an `.ann` end at "\\r\\n", "\\r" or
"\\n" only: form feeds, "\\x85" and U+2028 may stand in a text column.

Annotation tools often compute offsets on text with `\\n` line ends while the `.txt` on disk has `\\r\\n`.
When every mismatch of a file disappears with line ends read as `\\n`, lenient mode reads the note that way
(and reports it as repaired); strict mode stops with an error that says so.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

from ..corpus import ConversionError, ConversionReport, Entity, Record, excerpt
from .encoding import decode_bytes, offset_problem, read_text, split_lines

# The first character of a line says what it is (BRAT standoff format).
IGNORED_KINDS = {
    "R": "R (relation)",
    "E": "E (event)",
    "N": "N (normalization)",
    "*": "* (equivalence)",
    "#": "# (note)",
}
ATTRIBUTE_KINDS = ("A", "M")  # M: the older name of attribute lines
EVENT_ATTRIBUTE = "A (attribute of an event)"
BRAT_SUFFIXES = (".txt", ".ann")  # compared in lower case
TEXT_BOUND_ID = re.compile(r"T\d+$", re.ASCII)
ATTRIBUTE_ID = re.compile(r"[AM]\d+$", re.ASCII)
FRAGMENT = re.compile(r"(\S+) (\S+)$")
OFFSET = re.compile(r"\d+$", re.ASCII)  # see encoding.offset_problem


class TextBound(NamedTuple):
    """One `T` line before it is checked against the note text."""

    id: str
    label: str
    fragments: tuple[tuple[int, int], ...]
    quoted: str  # the text column
    where: str  # "FILE:line N"


class Attribute(NamedTuple):
    """One `A` line: its id, the attribute's name, the `T` id it qualifies, its value (`True` when binary)."""

    id: str
    name: str
    target: str
    value: bool | str
    where: str


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
            # read_text reported why; annotations, if any, go with their note
            if not _blank(ann_path, encoding):
                report.error(str(ann_path), f"annotations skipped: the note {txt_path.name} could not be read")
            continue
        lines = _read_ann(ann_path, report, encoding)
        if lines is None:
            report.error(str(txt_path), f"note skipped: its annotation file {ann_path.name} could not be read")
            continue
        text_bounds, attribute_lines = lines
        all_ids = {tb.id for tb in text_bounds}
        text = _check_text(text, text_bounds, txt_path, ann_path, report)
        attributes = _entity_attributes(attribute_lines, {tb.id for tb in text_bounds}, all_ids, report)
        entities = [
            Entity(
                min(start for start, _ in tb.fragments),
                max(end for _, end in tb.fragments),
                tb.label,
                fragments=tb.fragments if len(tb.fragments) > 1 else (),
                attributes=attributes.get(tb.id, {}),
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
        if path.suffix.lower() not in BRAT_SUFFIXES:
            raise ConversionError(f"{path}: a BRAT input is a folder, a .txt or an .ann file")
        stem = path.with_suffix("")
        root, candidates = path.parent, [p for p in path.parent.iterdir() if p.with_suffix("") == stem]
    else:
        root, candidates = path, list(path.rglob("*"))
    files = [p for p in candidates if p.suffix.lower() in BRAT_SUFFIXES and p.is_file()]
    if path.is_dir() and not files:
        report.error(str(path), "no .txt or .ann files in this folder")
        return
    # stem -> suffix -> files: "a.TXT" pairs with "a.ann". Partners are found by stem, never made with
    # `stem.with_suffix(".txt")`, which would turn the stem "2021.03.nota" into "2021.03.txt".
    notes: dict[Path, dict[str, list[Path]]] = {}
    for file in files:
        notes.setdefault(file.with_suffix(""), {}).setdefault(file.suffix.lower(), []).append(file)
    for stem, by_suffix in sorted(notes.items()):
        twice = [same for same in by_suffix.values() if len(same) > 1]
        if twice:
            names = ", ".join(sorted(p.name for same in twice for p in same))
            report.error(str(stem), f"several files for one note ({names}); note skipped")
            continue
        txt_path, ann_path = by_suffix.get(".txt", [None])[0], by_suffix.get(".ann", [None])[0]
        if txt_path is None:
            report.error(str(ann_path), f"no text file {stem.name}.txt beside it; annotations skipped")
            continue
        if ann_path is None:
            report.error(str(txt_path), f"no annotation file {stem.name}.ann beside it; note skipped")
            continue
        yield txt_path, ann_path, stem.relative_to(root).as_posix()


def _read_ann(
    ann_path: Path, report: ConversionReport, encoding: str | None
) -> tuple[list[TextBound], list[Attribute]] | None:
    """The `T` and `A` lines of an `.ann` file; other kinds are counted, malformed lines reported.

    None when the file cannot be read (read_text has reported it).
    """
    if _blank(ann_path, encoding):
        # BRAT writes an empty .ann for a note nobody annotated: legal, but worth knowing.
        report.note(f"{ann_path}: no annotations")
        return [], []
    content = read_text(ann_path, report, encoding)
    if not content:
        return None
    text_bounds: list[TextBound] = []
    attributes: list[Attribute] = []
    seen: set[str] = set()
    for number, line in enumerate(split_lines(content), start=1):
        where = f"{ann_path}:line {number}"
        if not line.strip():
            continue
        kind = line[0]
        if kind in IGNORED_KINDS:
            report.ignored_lines[IGNORED_KINDS[kind]] += 1
            continue
        if kind in ATTRIBUTE_KINDS:
            attribute = _parse_attribute(line, where, report)
            if attribute is not None:
                attributes.append(attribute)
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
        text_bounds.append(text_bound)
    return text_bounds, attributes


def _parse_attribute(line: str, where: str, report: ConversionReport) -> Attribute | None:
    """`An<TAB>Name Tn[ Value]` (None after reporting a malformed line)."""
    columns = line.split("\t")
    fields = columns[1].split() if len(columns) >= 2 else []
    if len(columns) != 2 or not ATTRIBUTE_ID.match(columns[0]) or len(fields) not in (2, 3):
        report.drop(where, "malformed attribute line: expected 'An<TAB>Name Tn' or 'An<TAB>Name Tn Value'")
        return None
    value: bool | str = fields[2] if len(fields) == 3 else True
    return Attribute(columns[0], fields[0], fields[1], value, where)


def _entity_attributes(
    attributes: list[Attribute], kept: set[str], read: set[str], report: ConversionReport
) -> dict[str, dict[str, bool | str]]:
    """`T` id -> {name: value} of the attribute lines of one file.

    kept: the ids of the `T` lines kept; read: the ids of every `T` line read (some dropped since).
    """
    found: dict[str, dict[str, bool | str]] = {}
    for attribute in attributes:
        target, name = attribute.target, attribute.name
        if target.startswith("E"):
            report.ignored_lines[EVENT_ATTRIBUTE] += 1  # events are not read, nor what qualifies them
        elif target in read and target not in kept:
            report.drop(attribute.where, f"attribute {attribute.id} of {target}, which was dropped")
        elif target not in kept:
            report.drop(attribute.where, f"attribute {attribute.id}: no entity {excerpt(target)!r} in the file")
        elif name in found.get(target, {}):
            report.drop(attribute.where, f"attribute {attribute.id}: {target} already has {excerpt(name)!r}")
        else:
            found.setdefault(target, {})[name] = attribute.value
    return found


def _blank(path: Path, encoding: str | None) -> bool:
    """Whether the file decodes (as `read_text` decodes it) to whitespace only, a byte-order mark aside; False when
    it cannot be read or decoded (read_text says why). An editor saves an empty UTF-8 file with a BOM as 3 bytes."""
    try:
        return not decode_bytes(path.read_bytes(), str(path), ConversionReport(lenient=True), encoding).strip()
    except (OSError, ConversionError):
        return False


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
        problem = offset_problem(match.groups(), OFFSET)
        if problem is not None:
            report.drop(where, f"{problem}: {excerpt(piece)!r}")
            return None
        fragments.append((int(match.group(1)), int(match.group(2))))
    return TextBound(entity_id, label, tuple(fragments), quoted, where)


def text_column(text: str, fragments: Iterable[tuple[int, int]]) -> str:
    """The text column of a `T` line: the fragment texts joined by one space, line ends made spaces.

    The one definition for reading and for `export.export_brat`, so that what is written reads back.
    """
    quoted = " ".join(text[start:end] for start, end in fragments)
    return quoted.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def _quoted_text(text: str, fragments: tuple[tuple[int, int], ...]) -> str | None:
    """What BRAT writes in the text column for these offsets, or None when they fall outside the text."""
    if any(start < 0 or end > len(text) or start >= end for start, end in fragments):
        return None  # the builder reports bad offsets with their own message
    return text_column(text, fragments)


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
