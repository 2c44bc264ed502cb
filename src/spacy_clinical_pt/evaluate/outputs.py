"""The files of an evaluation: metrics.json (with its provenance), report.md, and the curves (CSV and PNG)."""

from __future__ import annotations

import datetime
import json
import platform
import socket
import sys
from pathlib import Path
from typing import Any, Mapping, Optional

import spacy
from spacy.language import Language

from .. import __version__
from ..results import git_commit, sha256_of, write_csv
from ..schemes import column_label
from .matrices import label_matrix_name
from .report import render_report
from .run import Evaluation


def provenance(
    nlp: Language,
    model: str,
    data: Mapping[str, Optional[Path]],
    *,
    seed: Optional[int] = None,
    label: Optional[str] = None,
    corpus: Optional[str] = None,
) -> dict[str, Any]:
    """Where the figures come from: pipeline, data hashes, seed, policy-independent environment.

    data: role ("test", "dev") -> DocBin path (None entries are skipped).
    label: the run's model name for `aggregate`/`compare` (default: the pipeline's name).
    corpus: the corpus name for the tables (default: the test file's folder name).
    """
    meta = nlp.meta
    files = {
        role: {"path": str(path), "sha256": sha256_of(path), "bytes": Path(path).stat().st_size}
        for role, path in data.items()
        if path is not None
    }
    test_path = data.get("test")
    return {
        "label": label or f"{meta.get('lang', '')}_{meta.get('name', 'pipeline')}",
        "corpus": corpus or (Path(test_path).resolve().parent.name if test_path else None),
        "model": str(model),
        "pipeline": {
            "name": meta.get("name"),
            "version": meta.get("version"),
            "lang": meta.get("lang"),
            "components": list(nlp.pipe_names),
            "spacy_version": meta.get("spacy_version"),
        },
        "data": files,
        "seed": seed,
        "package_version": __version__,
        "spacy_runtime": spacy.__version__,
        "git_commit": git_commit(),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }


def write_outputs(evaluation: Evaluation, output: str | Path) -> list[Path]:
    """Write metrics.json, report.md and the curves there are data for: precision-recall (CSV + PNG; token level
    for a tagger, exact spans for a span classifier) and ROC (token level, CSV + PNG).

    RETURNS: the paths written.
    """
    from ..plots import plot_pr_curves, plot_roc_curves

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    metrics = evaluation.metrics
    written = [output / "metrics.json", output / "report.md"]
    written[0].write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf8")
    written[1].write_text(render_report(metrics), encoding="utf8")
    prov = metrics.get("provenance", {})
    section = metrics["threshold"]
    name = f"{prov.get('label', 'pipeline')} on {prov.get('corpus', 'test')}"
    if metrics.get("pipeline_kind") == "span_classifier":
        title, unit = f"{name} (span classifier)", "entities"
        subtitle = f"threshold on span scores: {section['description']}; exact span and label"
    else:
        title, unit = f"{name} ({metrics.get('scheme')})", "token-label cells"
        subtitle = f"threshold: {section['description']}; unit: spaCy tokens, whitespace excluded"
    if evaluation.pr_rows:
        value = section.get("value")
        chosen = {"micro": value} if isinstance(value, float) else dict(value or {})
        if label_matrix_name(metrics.get("scheme")) != "IO" and isinstance(value, Mapping):
            chosen = {c: value[column_label(c)] for c in metrics["columns"]}
        written.append(write_csv(evaluation.pr_rows, output / "pr_curves.csv"))
        written.append(
            plot_pr_curves(
                evaluation.pr_rows, output / "pr_curves.png", f"Precision-recall: {title}", chosen, subtitle, unit
            )
        )
    if evaluation.roc_rows:
        token = metrics["token"][metrics["scheme"]]
        auc = {name: s["auc"] for name, s in token["per_label"].items()} | {"micro": token["auc_micro"]}
        written.append(write_csv(evaluation.roc_rows, output / "roc_curves.csv"))
        written.append(plot_roc_curves(evaluation.roc_rows, output / "roc_curves.png", f"ROC: {title}", auc, subtitle))
    return written


def writable_folder(path: Path) -> None:
    """Create the output folder `path` now, so that a path that cannot be written fails before the pipeline runs
    (a ValueError naming it)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{path}: cannot create the output folder ({err.strerror or err})") from None
