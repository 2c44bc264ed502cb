"""The `encoders` command: the encoder keys of the benchmark, or what to pass as `--encoder.name` for one, over
`spacy_clinical_pt.encoders`.

    spacy-clinical-pt encoders              # every key, its Hugging Face id and what it is
    spacy-clinical-pt encoders minilm       # one line, for `--encoder.name "$(spacy-clinical-pt encoders KEY)"`

Exit codes: 0 printed; 1 an unknown key, `cnn` (no transformer), or MiniLM not installed.
"""

from typing import Annotated, Optional

import typer

from ._util import fail


def encoders_command(
    key: Annotated[
        Optional[str],
        typer.Argument(help="An encoder key (mmbert_base, minilm...): print the model name to pass as --encoder.name."),
    ] = None,
) -> None:
    """List the encoders or resolve one to its model name.

    Without KEY, one line per encoder: its key, its Hugging Face id (`-` for the CNN) and what it is. With KEY, only
    what spacy-transformers takes as `--encoder.name`: the Hugging Face id, or MiniLM's installed folder.
    """
    from ..encoders import ENCODERS, resolve_encoder

    if key is None:
        width = max(map(len, ENCODERS))
        ids = {name: encoder.hf_name or "-" for name, encoder in ENCODERS.items()}
        id_width = max(map(len, ids.values()))
        for name, encoder in ENCODERS.items():
            typer.echo(f"{name:<{width}}  {ids[name]:<{id_width}}  {encoder.description}")
        return
    try:
        typer.echo(resolve_encoder(key))
    except (ValueError, LookupError) as err:
        fail(str(err))
