"""The `convert` command: an annotated corpus (BRAT, JSON spans, Doccano, Argilla, CoNLL, SemClinBr, DocBin) to
a DocBin, over `spacy_clinical_pt.convert.convert_path`.

Exit codes: 0 success; 1 bad input or a path that cannot be read or written (`error: ...` on stderr, nothing
written); 2 bad options; 3 (`--lenient`) records or files were skipped, listed as errors in the summary and the
report, and the rest was written.
"""

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._util import EXIT_PARTIAL, fail


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


def error_message(err: Exception) -> str:
    """The `error:` line's message for what a conversion or an export raised: an OSError as its path and
    reason, anything else (a ConversionError names the file and line or record) as its own message."""
    if isinstance(err, OSError) and err.filename is not None:
        return f"{err.filename}: {err.strerror or type(err).__name__}"
    return str(err)


def convert_command(
    input_path: Annotated[
        Path, typer.Argument(help="Input: a BRAT folder, a JSON/JSONL file, a .spacy file, a CoNLL or SemClinBr file.")
    ],
    output_path: Annotated[Path, typer.Option("--output", "-o", help="The .spacy (DocBin) file to write.")],
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
        typer.Option("--encoding", help="Encoding of the input text files, not .xlsx (default: UTF-8, else cp1252/latin-1)."),
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
    from ..convert import convert_path
    from ..corpus import ConversionError, progress_bar

    # Only options the user gave are passed: a reader rejects options that do not apply to its format.
    given = {"encoding": encoding, "scheme": tag_scheme, "keep_types": keep_semantic_types or None,
             "source_key": source_key}
    options = {name: value for name, value in given.items() if value is not None}
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
            progress=progress_bar,
            **options,
        )
    except (ConversionError, ValueError, OSError) as err:
        # A ConversionError names the file and line or record, an OSError its path; a traceback adds nothing.
        fail(error_message(err))
    typer.echo(result.summary())
    typer.echo(f"wrote {output_path}")
    if result.errors:
        raise typer.Exit(EXIT_PARTIAL)  # lenient: some records were skipped (listed above), the rest was written
