"""The `split` command: a DocBin split at document level into train/dev/test, over `spacy_clinical_pt.split`.

Exit codes: 0 success; 1 a corpus that cannot be read, options without meaning, or a folder that cannot be
written (`error: ...` on stderr, nothing written); 2 bad options.
"""

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._util import fail, warn


class Method(str, Enum):
    iterative = "iterative"
    random = "random"


def split_command(
    corpus: Annotated[Path, typer.Argument(help="The .spacy DocBin file to split (as written by `convert`).")],
    output_dir: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for train.spacy, dev.spacy, test.spacy and split.json.")
    ],
    method: Annotated[
        Method, typer.Option("--method", help="iterative: stratified on label presence; random: shuffled.")
    ] = Method.iterative,
    ratios: Annotated[
        tuple[float, float, float],
        typer.Option(
            "--ratios",
            help="Train/dev/test shares of CORPUS, e.g. --ratios 0.6 0.2 0.2; with --test, the test share is 0, "
            "e.g. --ratios 0.8 0.2 0.",
        ),
    ] = (0.6, 0.2, 0.2),
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same split.")] = 42,
    min_docs_per_label: Annotated[
        int,
        typer.Option("--min-docs-per-label", help="Labels in fewer documents are left out of the stratification."),
    ] = 10,
    test: Annotated[
        Optional[Path],
        typer.Option("--test", help="A fixed test set (.spacy) that comes with the corpus: copied to test.spacy."),
    ] = None,
    spans_key: Annotated[
        str, typer.Option("--spans-key", help="The span group (doc.spans key) holding the entities.")
    ] = "sc",
    order: Annotated[
        int,
        typer.Option("--order", help="Label-combination order of iterative stratification (1: labels, 2: pairs)."),
    ] = 2,
) -> None:
    """Split a corpus at document level into train/dev/test and report the label distribution per split."""
    from ..corpus import progress_bar
    from ..split import SPLIT_NAMES, split_corpus, write_split
    from ..stats import read_corpus

    if test is not None and ratios[2] != 0:
        fail(f"with --test, CORPUS gives no test documents: the test share must be 0 (e.g. --ratios "
             f"{ratios[0]:g} {ratios[1]:g} 0), got {list(ratios)}")
    try:
        docs = read_corpus(corpus, spans_key, progress=progress_bar)
        fixed_test = (
            read_corpus(test, spans_key, where=f"{test} (fixed test set)", progress=progress_bar)
            if test is not None
            else None
        )
        result = split_corpus(
            docs,
            method=method.value,
            ratios=ratios[:2] if test is not None else ratios,
            seed=seed,
            min_docs_per_label=min_docs_per_label,
            spans_key=spans_key,
            order=order,
            fixed_test=fixed_test,
        )
    except (OSError, ValueError) as error:
        fail(str(error))
    try:
        written = write_split(result, output_dir, progress_bar)
    except OSError as error:
        fail(f"cannot write the split into {output_dir}: {error.strerror or error}")
    typer.echo(result.format_table())
    all_ids = [i for name in SPLIT_NAMES for i in result.doc_ids[name]]
    if len(set(all_ids)) < len(all_ids):
        # e.g. two pooled files that both number their documents from 1: ids alone cannot say which is which
        warn("some document ids occur more than once; split.json `indices` (positions in the input files) "
             "identify the documents unambiguously")
    typer.echo("wrote " + ", ".join(str(p) for p in written))
