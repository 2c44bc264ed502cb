"""The `package` command: a trained pipeline as a pip-installable wheel, over
`spacy_clinical_pt.package.package_pipeline`.

Exit codes: 0 the wheel is built; 1 bad input or a failed build (`error: ...` on stderr); 2 bad options.
"""

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._util import fail


def package_command(
    model: Annotated[Path, typer.Argument(help="The trained pipeline folder (e.g. training/cnn/model-best).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for the package folder and its wheel (in dist/).")
    ],
    encoder: Annotated[
        str, typer.Option("--encoder", help="Encoder key (cnn, mmbert_base, biobertpt_clin...): names the package.")
    ],
    train_corpus: Annotated[
        str,
        typer.Option("--train-corpus", help="Training corpus (nestedclinbr, er_ner, semclinbr): meta and licence."),
    ],
    version: Annotated[str, typer.Option("--version", help="The package version.")] = "0.1.0",
    name: Annotated[
        Optional[str], typer.Option("--name", help="Package name (default: from the encoder, e.g. pt_clinical_cnn).")
    ] = None,
    metrics: Annotated[
        Optional[Path], typer.Option("--metrics", help="metrics.json from `evaluate` on the test set, for the meta.")
    ] = None,
    apply_threshold: Annotated[
        bool,
        typer.Option(
            "--apply-threshold/--keep-threshold",
            help="Write the threshold that --metrics chose on dev (or was given) into the packaged pipeline.",
        ),
    ] = True,
    context: Annotated[
        bool,
        typer.Option("--context/--no-context", help="End the pipeline with clinical_context (assertion of entities)."),
    ] = True,
) -> None:
    """Package a trained pipeline as an installable wheel.

    The wheel is named after its encoder, with labels, scheme, threshold, scores and data licences in its meta.
    """
    from ..package import package_pipeline

    try:
        result = package_pipeline(model, output, encoder=encoder, train_corpus=train_corpus, version=version,
                                  name=name, metrics_path=metrics, apply_threshold=apply_threshold,
                                  context=context)
    except (ValueError, OSError) as err:
        fail(str(err))
    clinical = result.meta["clinical_pt"]
    size = result.wheel.stat().st_size / 1e6
    typer.echo(
        f"{result.name} {result.version}: {clinical['scheme']} scheme, labels {', '.join(clinical['labels'])}, "
        f"threshold {clinical['threshold']} ({clinical['threshold_source']})"
    )
    if result.meta.get("performance"):
        # Without --metrics the meta keeps the dev scores `spacy train` recorded.
        kind = "test scores" if metrics is not None else "dev scores from training"
        typer.echo(f"{kind}: " + ", ".join(f"{k} {v}" for k, v in result.meta["performance"].items()))
    assertion = clinical.get("assertion")
    typer.echo(f"assertion: {assertion['component']} on doc.spans[{assertion['spans_key']!r}]" if assertion
               else "assertion: none (--no-context)")
    typer.echo(f"requirements: {', '.join(result.meta.get('requirements', []))}")
    typer.echo(f"wrote {result.wheel} ({size:.1f} MB)")
    typer.echo(f"install: pip install {result.wheel}   then: spacy.load({result.name!r})")
