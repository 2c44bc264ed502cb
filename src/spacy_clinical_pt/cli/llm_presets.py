"""The `llm-presets` command: write the spacy-llm configs of the benchmark's LLMs (`spacy_clinical_pt.llm.presets`)."""

from pathlib import Path
from typing import Annotated

import typer

from ._util import fail


def llm_presets_command(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder to write one <preset>.cfg per preset into (created).")
    ] = Path("configs/llm"),
) -> None:
    """Write the LLM pipeline configs of the presets.

    One spacy-llm config per model and setting of the benchmark (gpt-4.1, gpt-5*, gemini-2.5*, local), rendered from
    the table in `spacy_clinical_pt/llm/presets.py`; files of the same names are replaced.
    """
    from ..llm.presets import write_configs

    try:
        written = write_configs(output)
    except OSError as err:
        fail(f"{err.filename or output}: the configs could not be written ({err.strerror or type(err).__name__})")
    typer.echo(f"wrote {len(written)} configs to {output}: " + ", ".join(path.stem for path in written))
