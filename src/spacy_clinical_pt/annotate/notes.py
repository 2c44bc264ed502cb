"""Reading the notes to annotate: a text file, a folder of `.txt` files, JSONL or a JSON list, standard input.

Every input that cannot be read (a file that is not text, a JSONL line that is not an object with a `text`
string) is recorded in an `AnnotationReport` with where it is and why, never its text, and skipped.
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Optional

from ..convert.encoding import decode_bytes, read_text, split_lines
from ..convert.jsonspans import JSONProblem, parse_json
from ..corpus import ConversionError, ConversionReport

STDIN = "-"
INPUT_FORMATS = ("auto", "text", "jsonl")
# Control characters no note holds (tab, line and page ends are text); a file with many of them is binary data.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
BINARY_CONTROL_SHARE = 0.01
JSON_TYPES = {dict: "an object", list: "a list", str: "a string", bool: "true or false", int: "a number",
              float: "a number", type(None): "null"}
INPUT_POSITION = re.compile(r"(.*?)(?::(?:line|record) (\d+))?$", re.DOTALL)  # "notes.jsonl:line 12" -> notes.jsonl, 12


class Note(NamedTuple):
    """One note to annotate: its id (names the output files), its text, and where it was read."""

    doc_id: str
    text: str
    origin: str


@dataclass
class AnnotationReport:
    """What `annotate` read, skipped and found.

    notes: the notes annotated; entities: the entities found, per label.
    problems: `{"where", "problem"}` for each input skipped (a file, a JSONL line or record, a note).
    ignored: the files of an input folder not read because they are not `.txt`, per suffix.
    """

    notes: int = 0
    entities: Counter = field(default_factory=Counter)
    problems: list[dict[str, str]] = field(default_factory=list)
    ignored: Counter = field(default_factory=Counter)

    def skip(self, where: str, problem: str) -> None:
        self.problems.append({"where": where, "problem": problem})

    def summary(self) -> str:
        labels = ", ".join(f"{label} {n}" for label, n in sorted(self.entities.items())) or "none"
        lines = [f"annotated {self.notes} notes: {sum(self.entities.values())} entities ({labels})"]
        if self.problems:
            lines.append(f"skipped {len(self.problems)} of {self.notes + len(self.problems)} inputs:")
            # In input order: a note that failed in the pipeline is found after later lines were read.
            lines.extend(f"  {p['where']}: {p['problem']}" for p in sorted(self.problems, key=_input_order))
        if self.ignored:
            lines.append(f"ignored {sum(self.ignored.values())} files that are not .txt ({_counts(self.ignored)})")
        return "\n".join(lines)


def _input_order(problem: dict[str, str]) -> tuple[str, int]:
    """A problem's file, then its line or record number."""
    where = INPUT_POSITION.match(problem["where"])
    return where.group(1), int(where.group(2) or 0)


def _counts(counter: Counter) -> str:
    return ", ".join(f"{key} {n}" for key, n in sorted(counter.items()))


def read_notes(
    source: str | Path, report: AnnotationReport, input_format: str = "auto", encoding: Optional[str] = None
) -> Iterator[Note]:
    """The notes of `source`, lazily; inputs that cannot be read are listed in `report` and skipped.

    source: a text file, a folder of `.txt` files, a `.jsonl` file, a `.json` list, or "-" for standard input.
    input_format: "auto" (JSONL for a `.jsonl` suffix, a JSON list for `.json`, else text), "text" or "jsonl".
    encoding: the text files' encoding; default UTF-8 with a cp1252/latin-1 fallback.
    Raises ConversionError when `source` does not exist, is a folder without `.txt` files, or is a JSONL or JSON
    file that cannot be read or decoded as a whole.
    """
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"unknown input format {input_format!r}: use auto, text or jsonl")
    if str(source) == STDIN:
        data = sys.stdin.buffer.read()
        if not data.strip():
            report.skip("<stdin>", "no text on standard input")
        elif input_format == "jsonl":
            yield from _jsonl_notes(data, "<stdin>", report, encoding)
        else:
            text = _decode(data, "<stdin>", encoding)
            problem = binary_problem(text)
            if problem:
                report.skip("<stdin>", problem)
            else:
                yield Note("stdin", text, "<stdin>")
        return
    path = Path(source)
    if not path.exists():
        raise ConversionError(f"{path}: no such file or folder")
    if path.is_dir():
        files = _folder_files(path, report)
        if not files:
            found = f" (found {sum(report.ignored.values())} other files: {_counts(report.ignored)})"
            raise ConversionError(f"{path}: no .txt files in this folder{found if report.ignored else ''}")
        for file in files:
            note = _text_note(file, file.relative_to(path).with_suffix("").as_posix(), report, encoding)
            if note is not None:
                yield note
    elif input_format == "jsonl" or (input_format == "auto" and path.suffix.lower() == ".jsonl"):
        yield from _jsonl_notes(_read_bytes(path), str(path), report, encoding)
    elif input_format == "auto" and path.suffix.lower() == ".json":
        yield from _json_list_notes(_read_bytes(path), str(path), report, encoding)
    else:
        note = _text_note(path, path.stem, report, encoding)
        if note is not None:
            yield note


def binary_problem(text: str) -> Optional[str]:
    """Why the decoded file `text` is binary data rather than a note (NUL or many control characters), or None."""
    if "\x00" in text:
        return "not a text file: it holds NUL bytes (a UTF-16 file without byte-order mark needs --encoding)"
    controls = sum(1 for _ in CONTROL_CHARACTERS.finditer(text))
    # A few stray controls (a DOS end-of-file mark) still make a note.
    if controls > 3 and controls > BINARY_CONTROL_SHARE * len(text):
        return f"not a text file: {controls} control characters in {len(text)}"
    return None


def _folder_files(folder: Path, report: AnnotationReport) -> list[Path]:
    """The `.txt` files under `folder` (hidden ones left out); other files are counted in `report.ignored`, and
    subfolders that cannot be listed are reported."""
    files: list[Path] = []
    listed: set[str] = set()

    def unreadable(err: OSError) -> None:
        report.skip(str(err.filename), f"cannot read this folder ({err.strerror})")

    for root, dirs, names in os.walk(folder, onerror=unreadable, followlinks=True):
        real = os.path.realpath(root)
        if real in listed:  # a link back to a folder already listed
            dirs[:] = []
            continue
        listed.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            path = Path(root, name)
            if name.startswith("."):
                continue
            if path.suffix.lower() == ".txt" and path.is_file():
                files.append(path)
            else:
                report.ignored[path.suffix.lower() or "(no suffix)"] += 1
    return sorted(files)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise ConversionError(f"{path}: cannot read it ({err.strerror})") from None


def _decode(data: bytes, where: str, encoding: Optional[str]) -> str:
    # Lenient: a file mixing UTF-8 and cp1252 lines is still annotated, line by line decoded.
    return decode_bytes(data, where, ConversionReport(lenient=True), encoding)


def _text_note(path: Path, doc_id: str, report: AnnotationReport, encoding: Optional[str]) -> Optional[Note]:
    decoding = ConversionReport(lenient=True)
    try:
        text = read_text(path, decoding, encoding)
    except ConversionError as err:
        report.skip(str(path), str(err))
        return None
    except OSError as err:
        report.skip(str(path), f"cannot read it ({err.strerror})")
        return None
    if decoding.errors:  # lenient read_text records a file it cannot read or decode, and gives ""
        report.skip(decoding.errors[0]["where"], decoding.errors[0]["problem"])
        return None
    problem = binary_problem(text)  # an empty file is among read_text's errors
    if problem:
        report.skip(str(path), problem)
        return None
    return Note(doc_id, text, str(path))


def _decoded_json_text(data: bytes, where: str, encoding: Optional[str]) -> str:
    text = _decode(data, where, encoding)
    problem = binary_problem(text)
    if problem:
        raise ConversionError(f"{where}: {problem}")
    return text


def _jsonl_notes(data: bytes, where: str, report: AnnotationReport, encoding: Optional[str]) -> Iterator[Note]:
    """One note per JSONL line `{"text": str, "id": str|int (optional)}`; other lines are skipped and reported."""
    text = _decoded_json_text(data, where, encoding)
    if not text.strip():
        report.skip(where, "the file is empty")
        return
    seen: Counter = Counter()
    # Records end at a line end only: U+2028, \x85 or \x0c may sit inside a JSON string.
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        origin = f"{where}:line {number}"
        try:
            record = parse_json(line)
        except JSONProblem as problem:  # a position, a depth or a digit count, never the line (clinical text)
            report.skip(origin, f"not valid JSON {problem.reason}" if problem.malformed else problem.reason)
            continue
        note = _record_note(record, origin, f"line{number}", seen, report)
        if note is not None:
            yield note


def _json_list_notes(data: bytes, where: str, report: AnnotationReport, encoding: Optional[str]) -> Iterator[Note]:
    """One note per object of a JSON list, as in `_jsonl_notes`; a file that is not such a list raises."""
    text = _decoded_json_text(data, where, encoding)
    try:
        records = parse_json(text)
    except JSONProblem as problem:
        kind = "not valid JSON " if problem.malformed else ""
        raise ConversionError(f"{where} line {problem.line}: {kind}{problem.reason}") from None
    if not isinstance(records, list):
        raise ConversionError(f"{where}: expected a JSON list of objects with a 'text', got {_json_type(records)}")
    if not records:
        report.skip(where, "the list is empty")
    seen: Counter = Counter()
    for number, record in enumerate(records, start=1):
        note = _record_note(record, f"{where}:record {number}", f"record{number}", seen, report)
        if note is not None:
            yield note


def _record_note(record: Any, origin: str, default_id: str, seen: Counter, report: AnnotationReport) -> Optional[Note]:
    """The note of one JSON record, or None (reported) when it is not an object with a non-empty `text` string."""
    if not isinstance(record, dict):
        problem = f"expected a JSON object, got {_json_type(record)}"
    elif "text" not in record:
        problem = "no 'text' key in this object"
    elif not isinstance(record["text"], str):
        problem = f"'text' is {_json_type(record['text'])}, not a string"
    elif not record["text"].strip():
        problem = "the text is empty"
    else:
        problem = None
    if problem:
        report.skip(origin, problem)
        return None
    identifier = record.get("id", record.get("doc_id"))
    named = isinstance(identifier, (str, int)) and not isinstance(identifier, bool) and str(identifier).strip()
    doc_id = str(identifier) if named else default_id
    seen[doc_id] += 1
    if seen[doc_id] > 1:
        # Output files are named by id: a repeated id would overwrite the earlier note's files.
        doc_id = f"{doc_id}-{seen[doc_id]}"
    return Note(doc_id, record["text"], origin)


def _json_type(value: Any) -> str:
    return JSON_TYPES.get(type(value), type(value).__name__)
