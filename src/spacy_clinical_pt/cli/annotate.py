"""The `annotate` command: new notes in (a text file, a folder, JSONL, stdin), entities out (JSONL, BRAT, HTML),
over `spacy_clinical_pt.annotate`.

Exit codes: 0 every input annotated and written; 3 some inputs skipped (listed), the others annotated and written;
1 nothing written; 2 bad options.
"""

from enum import Enum
from pathlib import Path
from typing import Annotated, Iterable, Iterator, NoReturn, Optional

import typer

from ._util import EXIT_PARTIAL, GPU_ID_HELP, fail, use_gpu


class InputFormat(str, Enum):
    auto = "auto"
    text = "text"
    jsonl = "jsonl"


class OutputFormat(str, Enum):
    jsonl = "jsonl"
    brat = "brat"
    html = "html"


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
    gpu_id: Annotated[int, typer.Option("--gpu-id", help=GPU_ID_HELP)] = -1,
) -> None:
    """Annotate notes with a pipeline.

    Writes JSONL spans with scores, BRAT standoff, or displaCy HTML. An input that cannot be annotated (a file that
    cannot be read or is not text, a JSONL line that is not an object with a 'text' string, a note the pipeline
    fails on) is skipped and listed with the reason; the summary (notes annotated, inputs skipped and why, files
    ignored) goes to stderr.

    Exit status: 0 every input annotated and written; 3 some inputs skipped, the others annotated and written;
    1 nothing written: the output or an option refused (checked before the pipeline loads: an existing output
    without --overwrite, a folder where a file goes, a path that cannot be written, an unknown encoding), the
    pipeline or the input missing, or no note annotated; 2 a bad option (typer's own).
    """
    from ..annotate import AnnotationReport, write_annotations
    from ..corpus import ConversionError
    from ..pipes import load_pipeline, pipeline_labels, pipeline_spans_key

    try:
        _check_arguments(input_path, output, output_format.value, overwrite, encoding)
    except (ValueError, OSError) as err:  # OSError: a folder that cannot be listed
        fail(str(err))
    use_gpu(gpu_id)
    try:
        nlp = load_pipeline(model)
    except ValueError as err:
        fail(f"cannot load the pipeline: {err}")
    key = pipeline_spans_key(nlp, spans_key)
    report = AnnotationReport()
    docs = _annotated(nlp, key, report, input_path, input_format.value, encoding, output_format.value,
                      batch_size=batch_size, n_process=n_process, show=show)
    try:
        summary = write_annotations(
            _at_least_one(docs, report), output, output_format.value, key, pipeline_labels(nlp), overwrite
        )
    except (ConversionError, ValueError) as err:
        _fail_after(report, str(err))
    except OSError as err:
        _fail_after(report, f"cannot write {output} ({err.strerror or err})")
    typer.echo(report.summary(), err=True)
    typer.echo(f"wrote {summary.docs} notes, {summary.entities} entities to {output} ({output_format.value})")
    if report.problems:
        raise typer.Exit(code=EXIT_PARTIAL)


def _check_arguments(
    input_path: str, output: Path, output_format: str, overwrite: bool, encoding: Optional[str]
) -> None:
    """What can be refused before the pipeline loads and the first note is annotated (raises ValueError)."""
    from ..annotate import STDIN, check_output
    from ..convert.encoding import text_codec
    from ..corpus import ConversionError

    if input_path != STDIN and not Path(input_path).exists():
        raise ConversionError(f"{input_path}: no such file or folder")
    if encoding is not None:
        text_codec(encoding)
    check_output(output, output_format, overwrite, source=input_path)


def _annotated(nlp, key: str, report, input_path: str, input_format: str, encoding: Optional[str],
               output_format: str, *, batch_size: int, n_process: int, show: bool) -> Iterator:
    """The notes of `input_path` annotated, lazily, with a progress bar, and printed as they pass with `show`."""
    from tqdm import tqdm

    from ..annotate import annotate_notes, brat_notes, read_notes

    notes = read_notes(input_path, report, input_format, encoding)
    if output_format == OutputFormat.brat.value:
        notes = brat_notes(notes, report)
    docs = annotate_notes(nlp, notes, batch_size=batch_size, n_process=n_process, spans_key=key, report=report)
    docs = tqdm(docs, desc="annotate", unit="note", disable=None)
    return _echo_entities(docs, key) if show else docs


def _at_least_one(docs: Iterable, report) -> Iterator:
    """The docs; ConversionError after the last when none was annotated. The writers take every doc before they
    open a file, so nothing is written then."""
    from ..corpus import ConversionError

    yield from docs
    if report.notes == 0:
        raise ConversionError("no note could be annotated")


def _fail_after(report, message: str) -> NoReturn:
    """`fail(message)`, after the summary of what was read and skipped, if anything was."""
    if report.notes or report.problems:
        typer.echo(report.summary(), err=True)
    fail(message)


def _echo_entities(docs: Iterable, spans_key: str) -> Iterator:
    """The docs, each printed with its entities (--show) as it passes."""
    from ..annotate import entity_lines
    from ..corpus import USER_DATA_KEY, excerpt

    for doc in docs:
        note_id = doc.user_data.get(USER_DATA_KEY, {}).get("doc_id", "")
        typer.echo(f"== {note_id} ({len(doc.spans[spans_key])} entities; '{excerpt(doc.text)}')")
        for line in entity_lines(doc, spans_key):
            typer.echo("  " + line)
        yield doc
