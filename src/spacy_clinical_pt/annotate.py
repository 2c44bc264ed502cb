"""Annotating new notes with a trained pipeline: text in, entities out as JSONL, BRAT or displaCy HTML.

    spacy-clinical-pt annotate pt_clinical_cnn notes/ --output annotated/ --format brat

What can be read (`read_notes`):
- a text file: one note (UTF-8, else cp1252/latin-1, as `convert` reads text; line ends kept as they are);
- a folder: every `.txt` under it, one note each, named by its path relative to the folder (the other files are
  counted in the summary, not read);
- a `.jsonl` file (or `--input-format jsonl`): one JSON object per line with a `text` string and an optional `id`;
- a `.json` file: a list of such objects (the layout `export --format jsonspans` writes);
- `-`: standard input, one note (or JSONL with `--input-format jsonl`).

Nothing is dropped silently. A file that cannot be read or is not text (an image saved as `.txt`), a JSONL line or
record that is not an object with a `text` string, a text that cannot be written as UTF-8, and a note the pipeline
fails on are each listed (file, line or record, and why, never the text) and skipped; the other notes are
annotated and written.

A note longer than `MAX_PIECE_CHARS` (or the pipeline's `nlp.max_length`) is cut at paragraph, line, sentence or
word boundaries (`split_text`); the pieces are annotated and joined into one doc with the note's exact text
(`join_pieces`), so the offsets are those of the whole note.

What is written (the writers of `spacy_clinical_pt.export`, so offsets are exactly those of `convert`/`export`):
- `jsonl`: one line per note, `{"doc_id", "text", "annotations": [{"start", "end", "label", "score"}]}`, character
  offsets into `text`, `score` the span's confidence (`doc.spans[key].attrs["scores"]`);
- `brat`: a folder with a copy of each note as `<id>.txt` and its entities in `<id>.ann` (re-importing it with
  `convert --format brat` gives back the same spans);
- `html`: one page with displaCy's span visualiser (overlapping entities drawn one above the other).
An existing output file, or a BRAT folder that already holds files, is only written with `--overwrite`.

Exit status: 0 when every input was annotated; 3 when some inputs were skipped and the rest annotated and written;
1 when nothing was written (output or options refused, pipeline not loaded, input missing, no note annotated).
"""

from __future__ import annotations

import itertools
import os
import re
import sys
import tempfile
import warnings
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Iterable, Iterator, NamedTuple, NoReturn, Optional, Sequence

import numpy
import typer
from spacy import displacy
from spacy.language import Language
from spacy.tokens import Doc
from tqdm import tqdm

from .convert.encoding import decode_bytes, read_text, split_lines, text_codec
from .convert.jsonspans import JSONProblem, parse_json
from .corpus import LONE_SURROGATE, USER_DATA_KEY, ConversionError, ConversionReport, excerpt
from .export import ExportSummary, export_brat, export_jsonspans

STDIN = "-"
EXIT_PARTIAL = 3  # some inputs skipped, the others annotated and written
# The longest piece of a note given to the pipeline: a tenth of spaCy's max_length, about 20,000 tokens, which a
# CNN or a strided transformer annotates in a few hundred MB.
MAX_PIECE_CHARS = 100_000
# Where `split_text` cuts, best first: after a blank line, a line end, a sentence end, any whitespace.
BOUNDARIES = (re.compile(r"\n[^\S\n]*\n\s*"), re.compile(r"\n\s*"), re.compile(r"[.!?]\s+"), re.compile(r"\s+"))
# Control characters no note holds (tab, line and page ends are text); a file with many of them is binary data.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
BINARY_CONTROL_SHARE = 0.01
JSON_TYPES = {dict: "an object", list: "a list", str: "a string", bool: "true or false", int: "a number",
              float: "a number", type(None): "null"}
INPUT_POSITION = re.compile(r"(.*?)(?::(?:line|record) (\d+))?$", re.DOTALL)  # "notes.jsonl:line 12" -> notes.jsonl, 12
# Colours for displaCy's span visualiser, given to the pipeline's labels in order (NestedClinBr has four).
PALETTE = ("#f4a261", "#8ecae6", "#b5e48c", "#e9c46a", "#cdb4db", "#ffafcc", "#90dbf4", "#d8e2dc")


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


class InputFormat(str, Enum):
    auto = "auto"
    text = "text"
    jsonl = "jsonl"


class OutputFormat(str, Enum):
    jsonl = "jsonl"
    brat = "brat"
    html = "html"


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
    if input_format not in {f.value for f in InputFormat}:
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


def annotate_notes(
    nlp: Language,
    notes: Iterable[Note],
    *,
    batch_size: int = 16,
    n_process: int = 1,
    spans_key: str = "sc",
    report: Optional[AnnotationReport] = None,
) -> Iterator[Doc]:
    """Run `nlp` over the notes, lazily, in input order; a note that cannot be annotated is reported and skipped.

    nlp: a pipeline writing entities to `doc.spans[spans_key]` (a `clinical_tagger`, `spancat`...).
    notes: from `read_notes`, or built by hand.
    batch_size: notes (pieces of notes) per `nlp.pipe` batch. n_process: worker processes (1: this process).
    report: counts notes and entities per label, and lists each note skipped with its origin and the reason: a text
        that is not a string, is empty or cannot be written as UTF-8, or that the pipeline fails on. Without a
        report, such a note raises ValueError naming it.
    A note longer than `MAX_PIECE_CHARS` (or `nlp.max_length`) is annotated in pieces (`split_text`) joined into one
    doc (`join_pieces`). The notes of a batch that fails are annotated again one by one: a bad note costs only
    itself. While this runs, the pipeline's error handler (`nlp.set_error_handler`) is replaced; it is restored after.
    Each doc carries its note id (`doc.user_data["clinical_pt"]["doc_id"]`, which names the exported files) and
    always has `doc.spans[spans_key]`, empty when nothing was found.
    """
    limit = min(MAX_PIECE_CHARS, nlp.max_length)
    notes = iter(notes)
    numbers = itertools.count()
    # The notes whose pieces are in nlp.pipe, in order, with the docs of their pieces come out so far.
    started: deque[_Started] = deque()
    # An error of the notes' iterator itself (or a note skipped without a report): it ends the run, once the notes
    # before it are out. Raised from inside nlp.pipe it could leave worker processes blocked on a full pipe.
    input_errors: list[Exception] = []

    def piece_docs() -> Iterator[tuple[Doc, tuple[int, int]]]:
        """The docs of the notes' pieces, each with (note number, piece number) as its context in nlp.pipe."""
        try:
            for note in notes:
                pieces = _note_pieces(note, limit, report)
                if pieces is None:
                    continue
                try:
                    docs = [nlp.make_doc(piece) for piece in pieces]
                except Exception as err:  # the tokenizer, on an input it was never shown
                    _skip(note, _failure(err), report)
                    continue
                number = next(numbers)
                started.append(_Started(note, pieces, number, []))
                yield from ((doc, (number, piece)) for piece, doc in enumerate(docs))
        except Exception as err:
            input_errors.append(err)

    def alone(entry: _Started) -> Iterator[Doc]:
        """The note annotated on its own (in this process): its doc, or nothing when it fails (reported)."""
        recorder.errors.clear()
        try:
            docs = list(nlp.pipe(entry.pieces, batch_size=batch_size))
        except Exception as err:  # a component that raises past spaCy's error handler
            docs, recorder.errors[:] = [], [err]
        if len(docs) == len(entry.pieces):
            yield _annotated_doc(entry.note, docs, spans_key, report)
        else:
            _skip(entry.note, _failure(recorder.errors[-1]) if recorder.errors else "could not be annotated", report)

    with _recording_errors(nlp) as recorder:
        while True:
            outputs = nlp.pipe(piece_docs(), as_tuples=True, batch_size=batch_size, n_process=n_process)
            stopped = False
            while True:
                try:
                    doc, (number, piece) = next(outputs)
                except StopIteration:
                    break
                except Exception:
                    if not started:
                        raise  # no note was in the pipeline: the pipeline itself is broken
                    stopped = True  # a component raised past the error handler and ended this nlp.pipe
                    break
                # A note left behind misses pieces: they were in a batch that failed and left nlp.pipe's output.
                while number > started[0].number:
                    yield from alone(started.popleft())
                entry = started[0]
                entry.docs.append(doc)
                if piece == len(entry.pieces) - 1:
                    started.popleft()
                    if len(entry.docs) == len(entry.pieces):
                        yield _annotated_doc(entry.note, entry.docs, spans_key, report)
                    else:
                        yield from alone(entry)
            while started:
                yield from alone(started.popleft())
            if input_errors:
                raise input_errors[0]
            if not stopped:
                return


class _Started(NamedTuple):
    """A note handed to nlp.pipe: its pieces, its number there, and the docs of its pieces come out so far."""

    note: Note
    pieces: list[str]
    number: int
    docs: list[Doc]


class _ErrorRecorder:
    """A spaCy error handler that keeps the errors: the failing batch's docs are left out of nlp.pipe's output, and
    `annotate_notes` annotates their notes again one by one. A class, not a closure: worker processes pickle it."""

    def __init__(self) -> None:
        self.errors: list[Exception] = []

    def __call__(self, name: Optional[str], component: Any, docs: Any, error: Exception) -> None:
        self.errors.append(error)


@contextmanager
def _recording_errors(nlp: Language) -> Iterator[_ErrorRecorder]:
    """Swap the pipeline's error handlers for an `_ErrorRecorder`, and restore them after."""
    recorder = _ErrorRecorder()
    default = nlp.default_error_handler
    handlers = {name: pipe.get_error_handler() for name, pipe in nlp.pipeline if hasattr(pipe, "get_error_handler")}
    nlp.set_error_handler(recorder)
    try:
        yield recorder
    finally:
        nlp.default_error_handler = default
        for name, pipe in nlp.pipeline:
            if name in handlers:
                pipe.set_error_handler(handlers[name])


def _note_pieces(note: Note, limit: int, report: Optional[AnnotationReport]) -> Optional[list[str]]:
    """The pieces of the note's text for the pipeline, or None (reported) when the text cannot be annotated."""
    text = note.text
    if not isinstance(text, str):
        problem = f"the text is not a string ({type(text).__name__})"
    elif not text.strip():
        problem = "the text is empty"
    elif surrogate := LONE_SURROGATE.search(text):
        problem = (
            f"the text holds an unpaired surrogate at character {surrogate.start()} (it cannot be written as UTF-8)"
        )
    else:
        return split_text(text, limit)
    _skip(note, problem, report)
    return None


def _failure(err: Exception) -> str:
    # An exception message may quote the note: an excerpt at most.
    return f"could not be annotated ({type(err).__name__}: {excerpt(str(err))})"


def _skip(note: Note, problem: str, report: Optional[AnnotationReport]) -> None:
    if report is None:
        raise ValueError(f"{note.origin}: {problem}")
    report.skip(note.origin, problem)


def _annotated_doc(note: Note, docs: list[Doc], spans_key: str, report: Optional[AnnotationReport]) -> Doc:
    doc = docs[0] if len(docs) == 1 else join_pieces(docs)
    doc.user_data[USER_DATA_KEY] = {"doc_id": note.doc_id, "entities": {}}
    if spans_key not in doc.spans:
        doc.spans[spans_key] = []
    if report is not None:
        report.notes += 1
        report.entities.update(span.label_ for span in doc.spans[spans_key])
    return doc


def split_text(text: str, limit: int) -> list[str]:
    """`text` cut into pieces of at most `limit` characters that join back into it exactly.

    Each cut is the last boundary of the best kind found in the second half of the piece: after a blank line, then
    after a line end, a sentence end, any whitespace (whitespace stays with the piece before it, so no token is
    cut); a run of `limit` characters without whitespace is cut where it must.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    pieces, start = [], 0
    while len(text) - start > limit:
        window = text[start:start + limit]
        cut = next((end for end in (_last_boundary(b, window, limit // 2) for b in BOUNDARIES) if end), limit)
        pieces.append(window[:cut])
        start += cut
    pieces.append(text[start:])
    return pieces


def _last_boundary(pattern: re.Pattern, window: str, after: int) -> int:
    """The end of the last match of `pattern` in `window` starting at `after` or later; 0 when there is none."""
    end = 0
    for match in pattern.finditer(window, after):
        end = match.end()
    return end


def join_pieces(docs: Sequence[Doc]) -> Doc:
    """One doc from the docs of consecutive pieces of a text (`split_text`), as if the text had been annotated whole.

    `Doc.from_docs` joins the tokens, `doc.spans`, entities, tensors and token and span extensions; span group attrs
    and doc extensions it leaves out. Here the groups' `scores` are joined, their other attrs (the tagger's
    `columns`, which describe the pipeline) are the first piece's, and doc extensions with one row per token (the
    tagger's `doc._.clinical_probs`) are joined; other doc extensions are not kept.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\[W101\]")  # doc extensions: joined below
        joined = Doc.from_docs(list(docs), ensure_whitespace=False)
    for key in joined.spans:
        groups = [doc.spans[key] for doc in docs if key in doc.spans]
        attrs = dict(groups[0].attrs)
        scores = [group.attrs.get("scores") for group in groups]
        if all(s is not None and len(s) == len(group) for s, group in zip(scores, groups)):
            attrs["scores"] = numpy.concatenate([numpy.asarray(s) for s in scores])
        else:
            attrs.pop("scores", None)  # scores missing for some pieces cannot be attributed to spans
        joined.spans[key].attrs.update(attrs)
    for key in docs[0].user_data:
        if isinstance(key, tuple) and len(key) == 4 and key[0] == "._." and key[2] is None:
            rows = [doc.user_data.get(key) for doc in docs]
            if all(isinstance(r, numpy.ndarray) and r.ndim and len(r) == len(doc) for r, doc in zip(rows, docs)):
                joined.user_data[key] = numpy.concatenate(rows)
    return joined


def pipeline_spans_key(nlp: Language, spans_key: Optional[str] = None) -> str:
    """The `doc.spans` key to read: `spans_key` when given, else the pipeline's `clinical_tagger`'s, else "sc"."""
    if spans_key:
        return spans_key
    from .pipes import find_tagger

    tagger = find_tagger(nlp)
    return tagger.key if tagger is not None else "sc"


def pipeline_labels(nlp: Language) -> list[str]:
    """The labels of the pipeline's span-writing components, in their order (for colours and legends)."""
    labels: list[str] = []
    for _, pipe in nlp.pipeline:
        for label in getattr(pipe, "labels", ()) or ():
            if isinstance(label, str) and label not in labels:
                labels.append(label)
    return labels


def render_html(docs: Sequence[Doc], spans_key: str = "sc", labels: Sequence[str] = ()) -> str:
    """One HTML page with displaCy's span visualiser for every doc; `labels` get distinct colours in order."""
    colors = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}
    options: dict[str, Any] = {"spans_key": spans_key, "colors": colors}
    if not docs:
        return "<!DOCTYPE html><html><body><p>No notes.</p></body></html>"
    return displacy.render(list(docs), style="span", options=options, page=True, jupyter=False)


def check_output(
    output: str | Path, output_format: str, overwrite: bool = False, source: str | Path | None = None
) -> None:
    """Raise ValueError, naming the path, when `output` cannot be written as `output_format`.

    output: the file ("jsonl", "html") or the folder ("brat") to write.
    overwrite: allow replacing an existing file, or writing into a BRAT folder that already holds files.
    source: the input, which is never overwritten ("-" for standard input).
    Checks what can be known before annotating: the kind of path, what exists, and that the nearest existing
    folder takes a new file.
    """
    output = Path(output)
    if output_format not in {f.value for f in OutputFormat}:
        raise ValueError(f"unknown output format {output_format!r}: use jsonl, brat or html")
    if source is not None and str(source) != STDIN:
        source, target = Path(source).resolve(), output.resolve()
        # BRAT writes `<id>.txt`: a text file given as input is rewritten when the output is its folder.
        brat_copy = output_format == "brat" and source.suffix.lower() == ".txt" and source.parent == target
        if target == source or brat_copy:
            raise ValueError(f"{output}: would overwrite the input; write elsewhere")
    if output_format == "brat":
        if output.exists() and not output.is_dir():
            raise ValueError(f"{output}: is a file; --format brat writes a folder")
        if output.is_dir() and not overwrite and any(output.iterdir()):
            raise ValueError(f"{output}: the folder is not empty; pass --overwrite to write into it")
        folder = output
    else:
        if output.is_dir():
            raise ValueError(f"{output}: is a folder; --format {output_format} writes a file")
        if output_format == "jsonl" and output.suffix.lower() not in (".jsonl", ".json"):
            raise ValueError(f"{output}: --format jsonl writes a .jsonl file (or a .json list); name it so")
        if output.exists() and not overwrite:
            raise ValueError(f"{output}: already exists; pass --overwrite to replace it")
        folder = output.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{output}: cannot be created: {existing} is a file")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise ValueError(f"{output}: cannot write in {existing} ({err.strerror})") from None
    if output.is_file():
        try:
            output.open("r+b").close()
        except OSError as err:
            raise ValueError(f"{output}: cannot be replaced ({err.strerror})") from None


def write_annotations(
    docs: Iterable[Doc],
    output: str | Path,
    output_format: str,
    spans_key: str = "sc",
    labels: Sequence[str] = (),
    overwrite: bool = True,
) -> ExportSummary:
    """Write annotated docs to `output` as "jsonl" (a file), "brat" (a folder) or "html" (a file).

    jsonl and brat go through `export.export_jsonspans` / `export.export_brat` (exact character offsets).
    overwrite: replace an existing output (else ValueError, as for every output `check_output` refuses).
    RETURNS: the documents and entities written.
    """
    check_output(output, output_format, overwrite)
    output = Path(output)
    if output_format == "jsonl":
        return export_jsonspans(docs, output, spans_key=spans_key, start_key="start")
    if output_format == "brat":
        return export_brat(docs, output, spans_key=spans_key)
    docs = list(docs)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_html(docs, spans_key, labels), encoding="utf8")
    return ExportSummary(len(docs), sum(len(doc.spans[spans_key]) for doc in docs if spans_key in doc.spans))


def entity_lines(doc: Doc, spans_key: str = "sc") -> list[str]:
    """One line per entity of `doc` for the terminal: `label  start-end  score  text` (for --show)."""
    group = doc.spans[spans_key] if spans_key in doc.spans else []
    scores = group.attrs.get("scores") if len(group) else None
    lines = []
    for index, span in enumerate(group):
        score = f"{float(scores[index]):.3f}" if scores is not None and len(scores) == len(group) else "  -  "
        lines.append(f"{span.label_:<12} {span.start_char:>6}-{span.end_char:<6} {score}  {span.text}")
    return lines


def annotate_command(
    model: Annotated[str, typer.Argument(help="The pipeline: an installed package name (pt_clinical_cnn) or a folder.")],
    input_path: Annotated[
        str,
        typer.Argument(help="A text file, a folder of .txt files, a JSONL file (or .json list) with a 'text' field, "
                            "or - (stdin)."),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write: a .jsonl file, a BRAT folder, or an .html file.")
    ],
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="jsonl (spans with offsets and scores), brat or html.")
    ] = OutputFormat.jsonl,
    input_format: Annotated[
        InputFormat,
        typer.Option("--input-format", help="auto: JSONL for a .jsonl file, a JSON list for .json, else plain text; "
                                            "or force text/jsonl."),
    ] = InputFormat.auto,
    n_process: Annotated[int, typer.Option("--n-process", min=1, help="Worker processes for nlp.pipe.")] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Notes per nlp.pipe batch.")] = 16,
    spans_key: Annotated[
        Optional[str], typer.Option("--spans-key", help="doc.spans key to read (default: the pipeline's own, or sc).")
    ] = None,
    encoding: Annotated[
        Optional[str], typer.Option("--encoding", help="Encoding of the input (default: UTF-8, else cp1252/latin-1).")
    ] = None,
    show: Annotated[
        bool, typer.Option("--show", help="Also print every entity (label, offsets, score, text) on the terminal.")
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace an existing output file, or write into a BRAT folder that already "
                                         "holds files."),
    ] = False,
    gpu_id: Annotated[int, typer.Option("--gpu-id", help="GPU to run on; -1 for the CPU.")] = -1,
) -> None:
    """Annotate new notes with a trained pipeline: JSONL spans with scores, BRAT standoff, or displaCy HTML.

    An input that cannot be annotated (a file that cannot be read or is not text, a JSONL line that is not an
    object with a 'text' string, a note the pipeline fails on) is skipped and listed with the reason; the summary
    (notes annotated, inputs skipped and why, files ignored) goes to stderr.

    Exit status: 0 every input annotated and written; 3 some inputs skipped, the others annotated and written;
    1 nothing written: the output or an option refused (checked before the pipeline loads: an existing output
    without --overwrite, a folder where a file goes, a path that cannot be written, an unknown encoding), the
    pipeline or the input missing, or no note annotated; 2 a bad option (typer's own).
    """
    import spacy

    try:
        _check_arguments(input_path, output, output_format.value, overwrite, encoding)
    except (ConversionError, ValueError, OSError) as err:  # OSError: a folder that cannot be listed
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1) from None
    try:
        if gpu_id >= 0:
            spacy.require_gpu(gpu_id)
    except ValueError as err:  # no GPU, or CuPy not installed
        typer.echo(f"error: --gpu-id {gpu_id}: {err}", err=True)
        raise typer.Exit(code=1) from None
    try:
        nlp = spacy.load(model)
    except (OSError, ValueError) as err:
        typer.echo(f"error: cannot load the pipeline {model!r}: {err}", err=True)
        raise typer.Exit(code=1) from None
    key = pipeline_spans_key(nlp, spans_key)
    report = AnnotationReport()
    notes = read_notes(input_path, report, input_format.value, encoding)
    if output_format == OutputFormat.brat:
        notes = _brat_notes(notes, report)
    docs = annotate_notes(nlp, notes, batch_size=batch_size, n_process=n_process, spans_key=key, report=report)
    docs = tqdm(docs, desc="annotate", unit="note", disable=None)
    if show:
        docs = _echo_entities(docs, key)
    try:
        summary = write_annotations(
            _at_least_one(docs, report), output, output_format.value, key, pipeline_labels(nlp), overwrite
        )
    except (ConversionError, ValueError) as err:
        _fail(report, str(err))
    except OSError as err:
        _fail(report, f"cannot write {output} ({err.strerror or err})")
    typer.echo(report.summary(), err=True)
    typer.echo(f"wrote {summary.docs} notes, {summary.entities} entities to {output} ({output_format.value})")
    if report.problems:
        raise typer.Exit(code=EXIT_PARTIAL)


def _check_arguments(
    input_path: str, output: Path, output_format: str, overwrite: bool, encoding: Optional[str]
) -> None:
    """What can be refused before the pipeline loads and the first note is annotated."""
    if input_path != STDIN and not Path(input_path).exists():
        raise ConversionError(f"{input_path}: no such file or folder")
    if encoding is not None:
        text_codec(encoding)
    check_output(output, output_format, overwrite, source=input_path)


def _brat_notes(notes: Iterable[Note], report: AnnotationReport) -> Iterator[Note]:
    """The notes a BRAT folder can hold; the others are reported and skipped."""
    for note in notes:
        if isinstance(note.text, str) and note.text.startswith("\ufeff"):
            # Read back as a byte-order mark, it would be removed and move every offset by one.
            report.skip(note.origin, "the text begins with U+FEFF, which BRAT files cannot keep")
        else:
            yield note


def _at_least_one(docs: Iterable[Doc], report: AnnotationReport) -> Iterator[Doc]:
    """The docs; ConversionError after the last when none was annotated. The writers take every doc before they
    open a file, so nothing is written then."""
    yield from docs
    if report.notes == 0:
        raise ConversionError("no note could be annotated")


def _fail(report: AnnotationReport, message: str) -> NoReturn:
    if report.notes or report.problems:
        typer.echo(report.summary(), err=True)
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def _echo_entities(docs: Iterable[Doc], spans_key: str) -> Iterator[Doc]:
    for doc in docs:
        note_id = doc.user_data.get(USER_DATA_KEY, {}).get("doc_id", "")
        typer.echo(f"== {note_id} ({len(doc.spans[spans_key])} entities; '{excerpt(doc.text)}')")
        for line in entity_lines(doc, spans_key):
            typer.echo("  " + line)
        yield doc
