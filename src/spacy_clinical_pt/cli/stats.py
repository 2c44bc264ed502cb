"""The `stats` command: a DocBin's entities per label, their length, nesting and overlap, over
`spacy_clinical_pt.stats`.

Exit codes: 0 success; 1 a file that cannot be read or holds no entities under the key (`error: ...` on stderr).
"""

from pathlib import Path
from typing import Annotated

import typer

from ._util import fail


def stats_command(
    corpus: Annotated[Path, typer.Argument(help="A .spacy DocBin file (as written by `convert`).")],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the statistics as JSON instead of a table.")
    ] = False,
    spans_key: Annotated[
        str, typer.Option("--spans-key", help="The span group (doc.spans key) holding the entities.")
    ] = "sc",
) -> None:
    """Describe a corpus: notes, tokens, entities per label, nesting.

    Per label: entities, documents, mean length in tokens, discontinuous entities; nested and overlapping pairs.
    """
    import json

    from ..corpus import progress_bar
    from ..stats import corpus_stats, format_stats, read_corpus

    try:
        stats = corpus_stats(read_corpus(corpus, spans_key, progress=progress_bar), spans_key=spans_key)
    except (OSError, ValueError) as error:
        fail(str(error))
    typer.echo(json.dumps(stats, ensure_ascii=False, indent=2) if json_output else format_stats(stats))
