"""Figures of an evaluation: precision-recall and ROC curves, one run or several runs together.

matplotlib `Figure` objects without pyplot, drawn to files (no display needed, and importing this module leaves
matplotlib's backend alone). Every figure states what it shows in its title and axes:
the pipeline, the corpus, the threshold policy (an oracle threshold is labelled as such), which token unit the
curves count, and the chosen operating point. The rows drawn come from `metrics.pr_curves` / `metrics.roc_curves`,
the same rows written to the CSV beside each PNG, so the figure can be redrawn with any tool.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import textwrap

import numpy

# Iso-F1 contours make "which curve is better" readable at a glance.
ISO_F1 = (0.2, 0.4, 0.6, 0.8)


def _series(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(str(row["series"]), []).append(row)
    return grouped


def _title(title: str, subtitle: str) -> str:
    """The title, then the subtitle wrapped to the figure's width in smaller lines."""
    return title + ("\n" + "\n".join(textwrap.wrap(subtitle, 90)) if subtitle else "")


def _figure(size: tuple[float, float]) -> Any:
    """A matplotlib `Figure` of `size` inches (120 dpi), not registered with pyplot: nothing to close."""
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=120)


def _save(fig: Any, ax: Any, path: str | Path, title: str, subtitle: str, legend_loc: str) -> Path:
    """Title, grid and legend on `ax`, then write the figure to `path`."""
    ax.set_title(_title(title, subtitle), fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(loc=legend_loc, fontsize=8, framealpha=0.9)
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)


def _iso_f1(ax: Any) -> None:
    recall = numpy.linspace(0.01, 1.0, 200)
    for f in ISO_F1:
        precision = f * recall / (2 * recall - f)
        keep = (precision > 0) & (precision <= 1.05)
        ax.plot(recall[keep], precision[keep], color="0.85", linewidth=0.8, zorder=0)
        ax.annotate(f"F1={f:.1f}", xy=(0.98, f / (2 - f) + 0.01), fontsize=7, color="0.6", ha="right")


def plot_pr_curves(
    rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    title: str,
    chosen: Optional[Mapping[str, float]] = None,
    subtitle: str = "",
    unit: str = "token-label cells",
) -> Path:
    """Precision (y) against recall (x), one line per series, micro-averaged thick and black.

    rows: `metrics.pr_curves` rows (series, threshold, precision, recall, f1).
    path: the PNG to write. title: first title line (pipeline, corpus, policy). subtitle: a smaller second line.
    chosen: series -> threshold of the operating point to mark (the chosen threshold), e.g. {"micro": 0.42}.
    unit: what is counted, for the axis labels ("token-label cells", or "entities" for exact-span curves).
    RETURNS: the path written.
    """
    path = Path(path)
    fig = _figure((7.5, 6.0))
    ax = fig.subplots()
    _iso_f1(ax)
    for name, points in _series(rows).items():
        recall = [p["recall"] for p in points]
        precision = [p["precision"] for p in points]
        micro = name == "micro"
        best = max(p["f1"] for p in points)
        ax.plot(
            recall,
            precision,
            color="black" if micro else None,
            linewidth=2.4 if micro else 1.3,
            label=f"{'micro-average' if micro else name} (max F1 {best:.3f})",
        )
        if chosen and name in chosen:
            point = min(points, key=lambda p: abs(p["threshold"] - chosen[name]))
            ax.plot(point["recall"], point["precision"], marker="o", markersize=8, color="red", zorder=5)
            ax.annotate(
                f"chosen t={point['threshold']:.2f}\nF1={point['f1']:.3f}",
                xy=(point["recall"], point["precision"]),
                # keep the label inside the axes near the right edge
                xytext=(-70 if point["recall"] > 0.8 else 8, -28),
                textcoords="offset points",
                fontsize=8,
                color="red",
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85, "edgecolor": "red"},
            )
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(f"Recall (share of gold {unit} found)")
    ax.set_ylabel(f"Precision (share of predicted {unit} that are gold)")
    return _save(fig, ax, path, title, subtitle, "lower left")


def plot_roc_curves(
    rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    title: str,
    auc: Optional[Mapping[str, Optional[float]]] = None,
    subtitle: str = "",
) -> Path:
    """True positive rate (y) against false positive rate (x), one line per series, micro-average black.

    rows: `metrics.roc_curves` rows (series, fpr, tpr). auc: series -> ROC AUC shown in the legend.
    """
    path = Path(path)
    fig = _figure((7.5, 6.0))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="0.7", linestyle="--", linewidth=0.8, label="chance (AUC 0.5)")
    for name, points in _series(rows).items():
        micro = name == "micro"
        value = (auc or {}).get(name)
        label = f"{'micro-average' if micro else name}" + (f" (AUC {value:.3f})" if value is not None else "")
        ax.plot(
            [p["fpr"] for p in points],
            [p["tpr"] for p in points],
            color="black" if micro else None,
            linewidth=2.4 if micro else 1.3,
            label=label,
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("False positive rate (non-gold token-label cells predicted)")
    ax.set_ylabel("True positive rate (recall)")
    return _save(fig, ax, path, title, subtitle, "lower right")


def plot_combined_pr(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    title: str,
    subtitle: str = "",
) -> Path:
    """Micro-averaged precision-recall curves of several models in one figure.

    curves: model name -> (recall values, precision values), e.g. averaged over the seeds of each model.
    """
    path = Path(path)
    fig = _figure((8.0, 6.5))
    ax = fig.subplots()
    _iso_f1(ax)
    for name, (recall, precision) in curves.items():
        recall, precision = numpy.asarray(recall, dtype=float), numpy.asarray(precision, dtype=float)
        total = recall + precision
        f1 = numpy.divide(2 * recall * precision, total, out=numpy.zeros_like(recall), where=total > 0)
        ax.plot(recall, precision, linewidth=1.8, label=f"{name} (best micro F1 {f1.max(initial=0):.3f})")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("Recall (micro-averaged over token-label cells)")
    ax.set_ylabel("Precision (micro-averaged over token-label cells)")
    return _save(fig, ax, path, title, subtitle, "lower left")
