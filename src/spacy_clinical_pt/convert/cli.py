"""The `convert` and `export` commands (registered in `spacy_clinical_pt.cli`).

Exit codes: 0 success; 1 bad input or a path that cannot be read or written (`error: ...` on stderr, nothing
written); 2 bad options; 3 (`convert --lenient`) records or files were skipped, listed as errors in the
summary and the report, and the rest was written.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer

from ..corpus import ConversionError, excerpt


def fail(err: Exception) -> NoReturn:
    """Print `error: <message>` and exit 1: the message names the file and line, record or path."""
    if isinstance(err, OSError) and err.filename is not None:
        message = f"{err.filename}: {err.strerror or type(err).__name__}"
    else:
        message = str(err)
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1) from None


class InputFormat(str, Enum):
    brat = "brat"
    jsonspans = "jsonspans"
    doccano = "doccano"
    argilla = "argilla"
    spacy = "spacy"
    semclinbr = "semclinbr"
    conll = "conll"


class Discontinuous(str, Enum):
    covering = "covering"
    fragments = "fragments"


class Alignment(str, Enum):
    expand = "expand"
    contract = "contract"


class OutputFormat(str, Enum):
    brat = "brat"
    jsonspans = "jsonspans"


def convert_command(
    input_path: Annotated[
        Path, typer.Argument(help="Input: a BRAT folder, a JSON/JSONL file, a .spacy file, a CoNLL or SemClinBr file.")
    ],
    output_path: Annotated[Path, typer.Argument(help="The .spacy (DocBin) file to write.")],
    format: Annotated[InputFormat, typer.Option("--format", "-f", help="The input format.")],
    spans_key: Annotated[str, typer.Option("--spans-key", help="Store the entities in doc.spans[KEY].")] = "sc",
    discontinuous: Annotated[
        Discontinuous,
        typer.Option(
            "--discontinuous",
            help="Discontinuous entities: one span from first start to last end (covering), "
            "or one span per fragment sharing the entity id (fragments).",
        ),
    ] = Discontinuous.covering,
    alignment: Annotated[
        Alignment,
        typer.Option("--alignment", help="Offsets off token boundaries: expand or contract to whole tokens."),
    ] = Alignment.expand,
    lenient: Annotated[
        bool,
        typer.Option("--lenient", help="Go on after bad input; the report lists what was repaired or dropped."),
    ] = False,
    report: Annotated[
        Optional[Path], typer.Option("--report", help="Also write the conversion report as JSON to this file.")
    ] = None,
    encoding: Annotated[
        Optional[str],
        typer.Option("--encoding", help="Encoding of the input text files (default: UTF-8, else cp1252/latin-1)."),
    ] = None,
    tag_scheme: Annotated[
        Optional[str], typer.Option("--tag-scheme", help="conll only: the tag scheme (default: detected).")
    ] = None,
    keep_semantic_types: Annotated[
        bool,
        typer.Option(
            "--keep-semantic-types",
            help="semclinbr only: label entities with their UMLS semantic types instead of semantic groups.",
        ),
    ] = False,
    source_key: Annotated[
        Optional[str],
        typer.Option(
            "--source-key",
            help="spacy only: read doc.spans[KEY] (default: --spans-key where present, else doc.ents).",
        ),
    ] = None,
) -> None:
    """Convert an annotated corpus into a spaCy DocBin with every entity (nested, overlapping) in doc.spans."""
    from . import convert_path

    # Only options the user gave are passed: a reader rejects options that do not apply to its format.
    options: dict[str, object] = {}
    if encoding is not None:
        options["encoding"] = encoding
    if tag_scheme is not None:
        options["scheme"] = tag_scheme
    if keep_semantic_types:
        options["keep_types"] = True
    if source_key is not None:
        options["source_key"] = source_key
    try:
        result = convert_path(
            input_path,
            output_path,
            format=format.value,
            spans_key=spans_key,
            discontinuous=discontinuous.value,
            alignment=alignment.value,
            lenient=lenient,
            report_path=report,
            **options,
        )
    except (ConversionError, ValueError, OSError) as err:
        # A ConversionError names the file and line or record, an OSError its path; a traceback adds nothing.
        fail(err)
    typer.echo(result.summary())
    typer.echo(f"wrote {output_path}")
    if result.errors:
        raise typer.Exit(code=3)  # lenient: some records were skipped (listed above), the rest was written


def export_command(
    input_path: Annotated[Path, typer.Argument(help="The .spacy (DocBin) file to export.")],
    output_path: Annotated[
        Path, typer.Argument(help="A folder (brat) or a .json/.jsonl file (jsonspans) to write.")
    ],
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="The output format.")],
    spans_key: Annotated[str, typer.Option("--spans-key", help="Export the entities of doc.spans[KEY].")] = "sc",
) -> None:
    """Export documents (gold or predicted) to BRAT standoff or JSON spans, with character offsets."""
    from ..export import export_brat, export_jsonspans
    from . import load_docs

    try:
        docs = load_docs(input_path)
        if format is OutputFormat.brat:
            summary = export_brat(docs, output_path, spans_key=spans_key)
        else:
            summary = export_jsonspans(docs, output_path, spans_key=spans_key)
    except (ConversionError, ValueError, OSError) as err:
        fail(err)
    typer.echo(f"wrote {summary.docs} documents, {summary.entities} entities to {output_path}")
    if summary.skipped_attributes:
        kept_out = ", ".join(f"{excerpt(name)} {n}" for name, n in sorted(summary.skipped_attributes.items()))
        typer.echo(f"attributes {format.value} cannot hold, not written: {kept_out}", err=True)
