"""The `export` command: a DocBin's entities (gold or predicted) to BRAT standoff or JSON spans, over
`spacy_clinical_pt.export`.

Exit codes: 0 success (attributes the format cannot hold are listed on stderr); 1 bad input or a path that cannot
be read or written (`error: ...` on stderr, nothing written); 2 bad options.
"""

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ._util import fail
from .convert import error_message


class OutputFormat(str, Enum):
    brat = "brat"
    jsonspans = "jsonspans"


def export_command(
    input_path: Annotated[Path, typer.Argument(help="The .spacy (DocBin) file to export.")],
    output_path: Annotated[
        Path, typer.Option("--output", "-o", help="A folder (brat) or a .json/.jsonl file (jsonspans) to write.")
    ],
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="The output format.")],
    spans_key: Annotated[str, typer.Option("--spans-key", help="Export the entities of doc.spans[KEY].")] = "sc",
) -> None:
    """Export documents (gold or predicted) to BRAT standoff or JSON spans, with character offsets."""
    from ..convert import load_docs
    from ..corpus import ConversionError, excerpt
    from ..export import export_brat, export_jsonspans

    write = export_brat if format is OutputFormat.brat else export_jsonspans
    try:
        summary = write(load_docs(input_path), output_path, spans_key=spans_key)
    except (ConversionError, ValueError, OSError) as err:
        fail(error_message(err))
    typer.echo(f"wrote {summary.docs} documents, {summary.entities} entities to {output_path}")
    if summary.skipped_attributes:
        kept_out = ", ".join(f"{excerpt(name)} {n}" for name, n in sorted(summary.skipped_attributes.items()))
        typer.echo(f"attributes {format.value} cannot hold, not written: {kept_out}", err=True)
