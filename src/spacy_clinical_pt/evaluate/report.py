"""report.md: the paper's tables (token-level micro/macro per scheme), then entity level and per label, figures,
provenance. Read from metrics.json alone, so a report can be rendered again from the file."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .choose import ORACLE_NOTE
from .matrices import label_matrix_name

TOKEN_MACRO = (
    "Macro: the mean over every label (column) of the pipeline, one without gold or predicted tokens counting 0 "
    "(scikit-learn's multilabel macro average with zero_division=0, as the paper)."
)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines + [""]


def threshold_text(section: Mapping[str, Any]) -> str:
    value = section.get("value")
    if value is None:
        return "none"
    text = _values_text(value) + ("" if isinstance(value, Mapping) else " (shared)")
    carry = section.get("continue_threshold")
    if carry:
        text += f"; continuation (I) threshold {_values_text(carry['value'])} ({carry['chosen_on']})"
    return text


def _values_text(value: float | Mapping[str, float]) -> str:
    """A threshold as text: `0.50`, or `Anatomia 0.35, Problema 0.50` per label."""
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {v:.2f}" for k, v in value.items())
    return f"{value:.2f}"


def render_report(metrics: Mapping[str, Any]) -> str:
    """report.md: the summary (policy, threshold, counts), the paper's token tables, entity level and per label,
    the figures and the provenance."""
    lines = _summary(metrics) + _token_tables(metrics) + _entity_tables(metrics) + _assertion_tables(metrics)
    lines += _figures(metrics)
    return "\n".join(lines + _provenance(metrics))


def _summary(metrics: Mapping[str, Any]) -> list[str]:
    """The title, the threshold policy and the bullet list of what was evaluated."""
    prov = metrics.get("provenance", {})
    section = metrics["threshold"]
    policy = section["policy"]
    lines = [f"# Evaluation: {prov.get('label', 'pipeline')} on {prov.get('corpus', 'test set')}", ""]
    if policy == "oracle":
        lines += [f"**Threshold policy: {ORACLE_NOTE}.** Figures below overstate what a user would get.", ""]
    else:
        lines += [f"Threshold policy: {section['description']}.", ""]
    counts = metrics["counts"]
    setup = metrics.get("pipeline_setup")
    lines += [f"- pipeline: {setup['name']}"] if setup else []
    lines += [
        f"- threshold: {threshold_text(section)}"
        + (f", chosen on {section['chosen_on']}" if section.get("chosen_on") else ""),
        f"- token unit: {metrics['token_unit']} ({counts['tokens'] - counts['whitespace_tokens_excluded']} tokens "
        f"scored, {counts['whitespace_tokens_excluded']} whitespace tokens excluded, {counts['docs']} documents)",
        f"- gold spans: {counts['gold_spans']} (lost aligning to the pipeline's tokens: "
        f"{counts['gold_spans_lost_in_alignment']})",
    ]
    if section.get("test_optimum") and policy != "oracle":
        optimum = section["test_optimum"]
        f1 = optimum["f1"] if not isinstance(optimum["f1"], Mapping) else None
        where = "exact-span micro F1" if "entity" in section.get("objective", "") else "micro F1 on the model's columns"
        lines.append(
            f"- for comparison only, the {ORACLE_NOTE} threshold would be {threshold_text(optimum)}"
            + (f" ({where} {f1:.4f})" if f1 is not None else "")
        )
    if metrics.get("candidates"):
        c = metrics["candidates"]
        lines.append(
            f"- span classifier `{metrics.get('component')}` on the proposals of its suggester "
            f"({c.get('suggester') or 'unnamed'}): "
            f"{c['proposed']} proposed ({c['proposed_per_doc']:.1f} per document); {c['gold_spans_proposed']} of "
            f"{c['gold_spans']} gold spans among them (recall ceiling {c['recall']:.4f}, boundaries only)"
        )
        if c.get("per_label"):
            ceilings = ", ".join(f"{label} {row['recall']:.3f} ({row['gold_spans_proposed']}/{row['gold_spans']})"
                                 for label, row in c["per_label"].items())
            lines.append(f"- recall ceiling per label: {ceilings}")
    if metrics.get("gold_labels_unknown_to_pipeline"):
        lines.append(
            f"- gold labels the pipeline does not predict (errors at entity level, outside the token matrix): "
            f"{', '.join(metrics['gold_labels_unknown_to_pipeline'])}"
        )
    return lines


def _token_tables(metrics: Mapping[str, Any]) -> list[str]:
    """The token level: micro and macro per matrix, then per label."""
    lines = [
        "",
        "## Token level (as the paper: token x label matrix)",
        "",
        f"Micro: the cells pooled. {TOKEN_MACRO}",
        "",
    ]
    rows = []
    for name, scores in metrics["token"].items():
        rows.append(
            [
                name,
                scores["macro"]["precision"],
                scores["macro"]["recall"],
                scores["macro"]["f1"],
                scores["micro"]["precision"],
                scores["micro"]["recall"],
                scores["micro"]["f1"],
                scores.get("auc_macro"),
                scores.get("auc_micro"),
            ]
        )
    lines += _table(
        ["matrix", "macro P", "macro R", "macro F1", "micro P", "micro R", "micro F1", "macro AUC", "micro AUC"], rows
    )
    scheme, collapsed = metrics.get("scheme"), label_matrix_name(metrics.get("scheme"))
    if collapsed != "IO" and collapsed in metrics["token"]:
        lines += [
            f"{scheme}: the paper's figures use the model's own columns; `{collapsed}` scores each entity type (the "
            "max of its columns' probabilities against gold inside the type's spans).",
            "",
        ]
    for name, scores in metrics["token"].items():
        lines += [f"### Per label ({name})", ""]
        lines += _table(
            ["label", "P", "R", "F1", "support", "TP", "FP", "FN", "AUC"],
            [
                [label, s["precision"], s["recall"], s["f1"], s["support"], s["tp"], s["fp"], s["fn"], s.get("auc")]
                for label, s in scores["per_label"].items()
            ],
        )
    return lines


def _entity_tables(metrics: Mapping[str, Any]) -> list[str]:
    """The entity level: strict, partial and boundary, then per label."""
    lines = ["## Entity level (one-to-one matching; partial: same label and IoU >= 0.5)", ""]
    rows = []
    for mode, scores in metrics["entity"].items():
        micro, macro = scores["micro"], scores["macro"]
        rows.append(
            [
                mode,
                micro["precision"],
                micro["recall"],
                micro["f1"],
                macro["f1"] if macro else None,
                scores["tp"],
                scores["fp"],
                scores["fn"],
            ]
        )
    lines += _table(["match", "micro P", "micro R", "micro F1", "macro F1", "TP", "FP", "FN"], rows)
    lines += ["Boundary ignores labels, so it has no per-label or macro figures.", ""]
    lines += ["### Per label (entity level)", ""]
    rows = []
    for label in metrics["labels"]:
        strict = metrics["entity"]["strict"]["per_label"][label]
        partial = metrics["entity"]["partial"]["per_label"][label]
        rows.append(
            [label, strict["support"], strict["precision"], strict["recall"], strict["f1"], strict["tp"], strict["fp"],
             strict["fn"], partial["f1"]]
        )
    lines += _table(["label", "gold", "strict P", "strict R", "strict F1", "TP", "FP", "FN", "partial F1"], rows)
    return lines


def _assertion_tables(metrics: Mapping[str, Any]) -> list[str]:
    """Assertion on the gold spans (per class, confusions) and end to end, when metrics.json has it."""
    section = metrics.get("assertion")
    if not section:
        return []
    scope, gold, end = section["scope"], section["on_gold_spans"], section["end_to_end"]
    lines = [
        f"## Assertion (`{section['component']}`)",
        "",
        f"Labels with gold assertion: {', '.join(scope['labels'])} ({scope['gold_spans']} gold spans, "
        f"{scope['gold_spans_annotated']} annotated; the others count as present).",
        "",
        f"On the gold spans (the component given the gold spans): accuracy {_fmt(gold['accuracy'])} on "
        f"{gold['n']} spans.",
        "",
    ]
    lines += _table(
        ["assertion", "P", "R", "F1", "gold"],
        [[name, c["precision"], c["recall"], c["f1"], c["support"]] for name, c in gold["per_class"].items()],
    )
    classes = gold["confusion"]["labels"]
    lines += ["Confusions (rows gold, columns predicted):", ""]
    lines += _table(["gold / predicted", *classes],
                    [[name, *row] for name, row in zip(classes, gold["confusion"]["matrix"])])
    lines += [
        f"End to end (span, label and assertion all right): micro P {_fmt(end['precision'])}, "
        f"R {_fmt(end['recall'])}, F1 {_fmt(end['f1'])} (TP {end['tp']}, FP {end['fp']}, FN {end['fn']}; "
        f"{end['span_and_label_right']} predicted spans with the right span and label).",
        "",
    ]
    return lines


def _figures(metrics: Mapping[str, Any]) -> list[str]:
    """What the figures show, for the pipelines that have them."""
    lines: list[str] = []
    if metrics.get("pipeline_kind") == "span_classifier":
        lines += [
            "## Figures",
            "",
            "- `pr_curves.png` (data: `pr_curves.csv`): exact-span precision-recall per label and micro-averaged, "
            "thresholds on the span classifier's scores 0.01 to 0.99; the red point is the chosen threshold.",
            "",
        ]
    if metrics.get("pipeline_kind") == "clinical_tagger":
        lines += [
            "## Figures",
            "",
            "- `pr_curves.png` (data: `pr_curves.csv`): precision-recall per column and micro-averaged, thresholds "
            "0.01 to 0.99; the red point is the chosen threshold.",
            "- `roc_curves.png` (data: `roc_curves.csv`): ROC curves per column and micro-averaged.",
            "",
        ]
    return lines


def _provenance(metrics: Mapping[str, Any]) -> list[str]:
    """The provenance table: model, pipeline, data hashes, seed, policy, versions, host, date."""
    prov, section = metrics.get("provenance", {}), metrics["threshold"]
    lines = ["## Provenance", ""]
    pipeline = prov.get("pipeline", {})
    data = prov.get("data", {})
    lines += _table(
        ["item", "value"],
        [
            ["model", prov.get("model")],
            ["pipeline", f"{pipeline.get('lang')}_{pipeline.get('name')} {pipeline.get('version')}"],
            ["components", ", ".join(pipeline.get("components", []))],
            *[[f"{role} data", f"{d['path']} (sha256 {d['sha256'][:16]}...)"] for role, d in data.items()],
            ["seed", prov.get("seed")],
            ["threshold policy", section["description"]],
            ["spacy-clinical-pt", prov.get("package_version")],
            ["git commit", prov.get("git_commit")],
            ["host", f"{prov.get('hostname')} ({prov.get('platform')})"],
            ["date", prov.get("date")],
        ],
    )
    return lines
