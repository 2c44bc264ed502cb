"""The `notes` command: the texts of notes (folders of `.txt`, BRAT, JSON/JSONL, CoNLL, DocBin) as the JSONL that
`spacy pretrain` reads, over `spacy_clinical_pt.notes.collect_notes`.

Exit codes: 0 success; 1 an input that cannot be read, no note to write, or an output that exists without
`--overwrite` (`error: ...` on stderr, nothing written); 2 bad options.
"""

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._util import fail
from .convert import error_message


def notes_command(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="Files and folders of notes: .txt, BRAT or CoNLL folders, .json/.jsonl, .conll, .spacy."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The JSONL file to write, one {\"text\"} per note.")],
    encoding: Annotated[
        Optional[str],
        typer.Option("--encoding", help="Encoding of the input text files (default: UTF-8, else cp1252/latin-1)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the output file if it exists.")] = False,
) -> None:
    """Collect the texts of notes into JSONL, for pretraining on unlabelled notes.

    One line per note; exact duplicates and empty notes are left out and counted. Then:
    python -m spacy pretrain configs/pretrain_cnn.cfg training/pretrain --paths.raw_text OUTPUT
    """
    if output.exists() and not overwrite:
        fail(f"{output} exists; pass --overwrite to replace it")
    from ..corpus import ConversionError
    from ..notes import collect_notes

    try:
        summary = collect_notes(inputs, output, encoding=encoding)
    except (ConversionError, ValueError, OSError) as err:
        fail(error_message(err))
    typer.echo(summary.summary())
    typer.echo(f"wrote {output}")
