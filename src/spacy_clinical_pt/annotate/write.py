"""Writing annotated notes: JSONL spans with scores, a BRAT folder, or one displaCy HTML page, each output checked
before the first note is annotated.

Where the pipeline has a `clinical_context`, each entity's assertion goes with it: in JSONL `"assertion"` and the
five flags (`"is_negated": true`...), in BRAT attribute lines (`A1<TAB>Negation T2`), both through `export`; in
HTML the label says it ("Problema (negado)") and a negated entity has a colour of its own (`NEGATED_COLOR`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from spacy import displacy
from spacy.tokens import Doc, Span

from ..export import ExportSummary, export_brat, export_jsonspans, predicted_assertion
from .notes import STDIN, AnnotationReport, Note

OUTPUT_FORMATS = ("jsonl", "brat", "html")
# Colours for displaCy's span visualiser, given to the pipeline's labels in order (NestedClinBr has four).
PALETTE = ("#f4a261", "#8ecae6", "#b5e48c", "#e9c46a", "#cdb4db", "#ffafcc", "#90dbf4", "#d8e2dc")
# A negated entity is grey whatever its label: a reader skimming the colours must not take it for a finding.
NEGATED_COLOR = "#bdbdbd"
# What the HTML label adds for an assertion other than "present" (the note's language).
ASSERTION_WORDS = {
    "absent": "negado",
    "possible": "possível",
    "hypothetical": "hipotético",
    "historical": "histórico",
    "family": "familiar",
}


def render_html(docs: Sequence[Doc], spans_key: str = "sc", labels: Sequence[str] = ()) -> str:
    """One HTML page with displaCy's span visualiser for every doc; `labels` get distinct colours in order.

    An entity with an assertion other than "present" is labelled with it ("Problema (negado)"); negated ones are
    drawn in `NEGATED_COLOR`.
    """
    colors = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}
    if not docs:
        return "<!DOCTYPE html><html><body><p>No notes.</p></body></html>"
    shown = [_with_assertion_labels(doc, spans_key, colors) for doc in docs]
    options: dict[str, Any] = {"spans_key": spans_key, "colors": colors}
    return displacy.render(shown, style="span", options=options, page=True, jupyter=False)


def _with_assertion_labels(doc: Doc, spans_key: str, colors: dict[str, str]) -> Doc:
    """`doc` itself when no entity has an assertion to show; else a copy of its tokens whose span labels say it,
    their colours added to `colors` (a qualified label takes its label's colour; a negated one `NEGATED_COLOR`)."""
    group = doc.spans[spans_key] if spans_key in doc.spans else []
    words = [ASSERTION_WORDS.get((predicted_assertion(span) or {}).get("assertion")) for span in group]
    if not any(words):
        return doc
    # Only the tokens: the entities are drawn under new labels, and nothing else of the doc is needed.
    copy = Doc(doc.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc])
    spans = []
    for span, word in zip(group, words):
        label = f"{span.label_} ({word})" if word else span.label_
        color = NEGATED_COLOR if word == ASSERTION_WORDS["absent"] else colors.get(span.label_)
        if word and color:
            colors.setdefault(label, color)
        spans.append(Span(copy, span.start, span.end, label=label))
    copy.spans[spans_key] = spans
    return copy


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
    if output_format not in OUTPUT_FORMATS:
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
    """One line per entity of `doc` for the terminal: `label  start-end  score  text` (for --show), with the
    assertion before the text (`present`, `absent`...) when the pipeline's `clinical_context` set one."""
    group = doc.spans[spans_key] if spans_key in doc.spans else []
    scores = group.attrs.get("scores") if len(group) else None
    lines = []
    for index, span in enumerate(group):
        score = f"{float(scores[index]):.3f}" if scores is not None and len(scores) == len(group) else "  -  "
        assertion = predicted_assertion(span)
        shown = f"{assertion['assertion']:<12} " if assertion else ""
        lines.append(f"{span.label_:<12} {span.start_char:>6}-{span.end_char:<6} {score}  {shown}{span.text}")
    return lines


def brat_notes(notes: Iterable[Note], report: AnnotationReport) -> Iterator[Note]:
    """The notes a BRAT folder can hold; the others are reported and skipped."""
    for note in notes:
        if isinstance(note.text, str) and note.text.startswith("\ufeff"):
            # Read back as a byte-order mark, it would be removed and move every offset by one.
            report.skip(note.origin, "the text begins with U+FEFF, which BRAT files cannot keep")
        else:
            yield note
