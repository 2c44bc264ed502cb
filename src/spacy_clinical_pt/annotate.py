"""Annotating new notes with a trained pipeline: text in, entities out as JSONL, BRAT or displaCy HTML.

    spacy-clinical-pt annotate pt_clinical_cnn notes/ --output annotated/ --format brat

What can be read (`read_notes`):
- a text file: one note (UTF-8, else cp1252/latin-1, as `convert` reads text; line ends kept as they are);
- a folder: every `.txt` under it, one note each, named by its path relative to the folder;
- a `.jsonl` file (or `--input-format jsonl`): one JSON object per line with a `text` string and an optional
  `id`; a line that is not such an object is reported with its line number and skipped, the others are annotated;
- `-`: standard input, one note (or JSONL with `--input-format jsonl`).

What is written (the writers of `spacy_clinical_pt.export`, so offsets are exactly those of `convert`/`export`):
- `jsonl`: one line per note, `{"doc_id", "text", "annotations": [{"start", "end", "label", "score"}]}`, character
  offsets into `text`, `score` the span's confidence (`doc.spans[key].attrs["scores"]`);
- `brat`: a folder with a copy of each note as `<id>.txt` and its entities in `<id>.ann` (re-importing it with
  `convert --format brat` gives back the same spans);
- `html`: one page with displaCy's span visualiser (overlapping entities drawn one above the other).

Exit status: 0 when every input was annotated; 3 when some inputs (JSONL lines, unreadable files) were skipped
and the rest annotated and written; 1 when nothing could be annotated (bad model, no input).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Iterable, Iterator, NamedTuple, Optional, Sequence

import typer
from spacy import displacy
from spacy.language import Language
from spacy.tokens import Doc
from tqdm import tqdm

from .convert.encoding import decode_bytes, read_text
from .corpus import USER_DATA_KEY, ConversionError, ConversionReport, excerpt
from .export import ExportSummary, export_brat, export_jsonspans

STDIN = "-"
EXIT_PARTIAL = 3  # some inputs skipped, the others annotated and written
# Colours for displaCy's span visualiser, given to the pipeline's labels in order (NestedClinBr has four).
PALETTE = ("#f4a261", "#8ecae6", "#b5e48c", "#e9c46a", "#cdb4db", "#ffafcc", "#90dbf4", "#d8e2dc")


class Note(NamedTuple):
    """One note to annotate: its id (names the output files), its text, and where it was read."""

    doc_id: str
    text: str
    origin: str


@dataclass
class AnnotationReport:
    """What `annotate` read, skipped and found. `problems` holds `{"where", "problem"}` for each skipped input."""

    notes: int = 0
    entities: Counter = field(default_factory=Counter)
    problems: list[dict[str, str]] = field(default_factory=list)

    def skip(self, where: str, problem: str) -> None:
        self.problems.append({"where": where, "problem": problem})

    def summary(self) -> str:
        labels = ", ".join(f"{label} {n}" for label, n in sorted(self.entities.items())) or "none"
        lines = [f"annotated {self.notes} notes: {sum(self.entities.values())} entities ({labels})"]
        if self.problems:
            lines.append(f"skipped {len(self.problems)} inputs:")
            lines.extend(f"  {p['where']}: {p['problem']}" for p in self.problems)
        return "\n".join(lines)


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

    source: a text file, a folder of `.txt` files, a `.jsonl` file, or "-" for standard input.
    input_format: "auto" (JSONL for a `.jsonl` suffix, else text), "text" or "jsonl".
    encoding: the text files' encoding; default UTF-8 with a cp1252/latin-1 fallback.
    Raises ConversionError when `source` does not exist.
    """
    if input_format not in {f.value for f in InputFormat}:
        raise ValueError(f"unknown input format {input_format!r}: use auto, text or jsonl")
    if str(source) == STDIN:
        data = sys.stdin.buffer.read()
        if input_format == "jsonl":
            yield from _jsonl_notes(data, "<stdin>", report, encoding)
        elif data.strip():
            yield Note("stdin", _decode(data, "<stdin>", encoding), "<stdin>")
        else:
            report.skip("<stdin>", "no text on standard input")
        return
    path = Path(source)
    if not path.exists():
        raise ConversionError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and p.suffix.lower() == ".txt"
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not files:
            raise ConversionError(f"{path}: no .txt files in this folder")
        for file in files:
            note = _text_note(file, file.relative_to(path).with_suffix("").as_posix(), report, encoding)
            if note is not None:
                yield note
    elif input_format == "jsonl" or (input_format == "auto" and path.suffix.lower() == ".jsonl"):
        yield from _jsonl_notes(path.read_bytes(), str(path), report, encoding)
    else:
        note = _text_note(path, path.stem, report, encoding)
        if note is not None:
            yield note


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
    if not text.strip():
        report.skip(str(path), "the file is empty")
        return None
    return Note(doc_id, text, str(path))


def _jsonl_notes(data: bytes, where: str, report: AnnotationReport, encoding: Optional[str]) -> Iterator[Note]:
    """One note per JSONL line `{"text": str, "id": str|int (optional)}`; other lines are skipped and reported."""
    text = _decode(data, where, encoding)
    seen: Counter = Counter()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        origin = f"{where}:line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            # The message holds the parser's position, never the line itself (it may be clinical text).
            report.skip(origin, f"not valid JSON ({err.msg} at column {err.colno})")
            continue
        if not isinstance(record, dict):
            report.skip(origin, f"expected a JSON object, got {type(record).__name__}")
            continue
        note_text = record.get("text")
        if not isinstance(note_text, str):
            report.skip(origin, "no 'text' string in this object")
            continue
        if not note_text.strip():
            report.skip(origin, "the text is empty")
            continue
        identifier = record.get("id", record.get("doc_id"))
        doc_id = str(identifier) if isinstance(identifier, (str, int)) and str(identifier).strip() else f"line{number}"
        seen[doc_id] += 1
        if seen[doc_id] > 1:
            # Output files are named by id: a repeated id would overwrite the earlier note's files.
            doc_id = f"{doc_id}-{seen[doc_id]}"
        yield Note(doc_id, note_text, origin)


def annotate_notes(
    nlp: Language,
    notes: Iterable[Note],
    *,
    batch_size: int = 16,
    n_process: int = 1,
    spans_key: str = "sc",
    report: Optional[AnnotationReport] = None,
) -> Iterator[Doc]:
    """Run `nlp` over the notes, lazily, in input order.

    nlp: a pipeline writing entities to `doc.spans[spans_key]` (a `clinical_tagger`, `spancat`...).
    notes: from `read_notes`, or built by hand.
    batch_size: notes per `nlp.pipe` batch. n_process: worker processes (1: this process).
    report: counts notes and entities per label, when given.
    Each doc carries its note id (`doc.user_data["clinical_pt"]["doc_id"]`, which names the exported files) and
    always has `doc.spans[spans_key]`, empty when nothing was found.
    """
    pairs = ((note.text, note.doc_id) for note in notes)
    for doc, note_id in nlp.pipe(pairs, as_tuples=True, batch_size=batch_size, n_process=n_process):
        doc.user_data[USER_DATA_KEY] = {"doc_id": note_id, "entities": {}}
        if spans_key not in doc.spans:
            doc.spans[spans_key] = []
        if report is not None:
            report.notes += 1
            report.entities.update(span.label_ for span in doc.spans[spans_key])
        yield doc


def pipeline_spans_key(nlp: Language, spans_key: Optional[str] = None) -> str:
    """The `doc.spans` key to read: `spans_key` when given, else the pipeline's `clinical_tagger`'s, else "sc"."""
    if spans_key:
        return spans_key
    from .evaluate import find_tagger

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


def write_annotations(
    docs: Iterable[Doc], output: str | Path, output_format: str, spans_key: str = "sc", labels: Sequence[str] = ()
) -> ExportSummary:
    """Write annotated docs to `output` as "jsonl" (a file), "brat" (a folder) or "html" (a file).

    jsonl and brat go through `export.export_jsonspans` / `export.export_brat` (exact character offsets).
    RETURNS: the documents and entities written.
    """
    output = Path(output)
    if output_format == "jsonl":
        if output.suffix.lower() not in (".jsonl", ".json"):
            raise ValueError(f"{output}: --format jsonl writes a .jsonl file (or a .json list); name it so")
        return export_jsonspans(docs, output, spans_key=spans_key, start_key="start")
    if output_format == "brat":
        return export_brat(docs, output, spans_key=spans_key)
    if output_format == "html":
        docs = list(docs)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(render_html(docs, spans_key, labels), encoding="utf8")
        return ExportSummary(len(docs), sum(len(doc.spans[spans_key]) for doc in docs if spans_key in doc.spans))
    raise ValueError(f"unknown output format {output_format!r}: use jsonl, brat or html")


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
        str, typer.Argument(help="A text file, a folder of .txt files, a JSONL file with a 'text' field, or - (stdin).")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write: a .jsonl file, a BRAT folder, or an .html file.")
    ],
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="jsonl (spans with offsets and scores), brat or html.")
    ] = OutputFormat.jsonl,
    input_format: Annotated[
        InputFormat,
        typer.Option("--input-format", help="auto: JSONL for a .jsonl file, else plain text; or force text/jsonl."),
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
    gpu_id: Annotated[int, typer.Option("--gpu-id", help="GPU to run on; -1 for the CPU.")] = -1,
) -> None:
    """Annotate new notes with a trained pipeline: JSONL spans with scores, BRAT standoff, or displaCy HTML.

    Exit status 3 when some inputs (e.g. malformed JSONL lines) were skipped; the rest is annotated and written.
    """
    import spacy

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    try:
        nlp = spacy.load(model)
    except (OSError, ValueError) as err:
        typer.echo(f"error: cannot load the pipeline {model!r}: {err}", err=True)
        raise typer.Exit(code=1) from None
    key = pipeline_spans_key(nlp, spans_key)
    report = AnnotationReport()
    notes = read_notes(input_path, report, input_format.value, encoding)
    docs = annotate_notes(nlp, notes, batch_size=batch_size, n_process=n_process, spans_key=key, report=report)
    docs = tqdm(docs, desc="annotate", unit="note", disable=None)
    if show:
        docs = _echo_entities(docs, key)
    try:
        summary = write_annotations(docs, output, output_format.value, key, pipeline_labels(nlp))
    except (ConversionError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(report.summary(), err=bool(report.problems))
    if report.notes == 0:
        typer.echo("error: no note could be annotated", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"wrote {summary.docs} notes, {summary.entities} entities to {output} ({output_format.value})")
    if report.problems:
        raise typer.Exit(code=EXIT_PARTIAL)


def _echo_entities(docs: Iterable[Doc], spans_key: str) -> Iterator[Doc]:
    for doc in docs:
        note_id = doc.user_data.get(USER_DATA_KEY, {}).get("doc_id", "")
        typer.echo(f"== {note_id} ({len(doc.spans[spans_key])} entities; '{excerpt(doc.text)}')")
        for line in entity_lines(doc, spans_key):
            typer.echo("  " + line)
        yield doc
