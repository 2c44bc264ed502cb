"""The paper's Table 4 (model, mean time, mean tokens, cost per 1,000 replies) and the LLM part of report.md.

    from spacy_clinical_pt.llm.table4 import table4, table4_rows
    print(table4(table4_rows(["metrics/llm/gpt-5-minimal", "metrics/llm/gpt-5-mini-low", "metrics/llm/gpt-4.1"])))

Rows are read from the `llm` section that `llm-baseline` adds to metrics.json (`baseline.llm_section`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

TABLE4_HEADER = ("Model (reasoning effort)", "Mean time (s)", "Mean tokens", "Cost per 1,000 responses (USD)")


def display_name(settings: Mapping[str, Any]) -> str:
    """The model as Table 4 names it: "gpt-5 (minimal)". settings: the `llm.model` section (name, effort)."""
    effort = settings.get("reasoning_effort")
    return f"{settings['name']} ({effort})" if effort else str(settings["name"])


def _row(model: str, corpus: Optional[str], usage: Mapping[str, Any]) -> dict[str, Any]:
    """A Table 4 row: the model's name, the corpus (None: not said) and the figures of its `usage` section."""
    return {
        "model": model,
        "corpus": corpus,
        "responses": usage["responses"],
        "mean_time_s": usage["mean_time_s"],
        "mean_total_tokens": usage["mean_total_tokens"],
        "cost_per_1000_responses_usd": usage["cost_per_1000_responses_usd"],
        "price_date": usage.get("price_date"),
    }


def table4_row(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """One Table 4 row from a metrics.json written by `llm-baseline` (its `llm` section)."""
    llm = metrics.get("llm")
    if not isinstance(llm, Mapping) or "usage" not in llm:
        label = metrics.get("provenance", {}).get("label", "this run")
        raise ValueError(f"{label}: metrics.json has no 'llm' usage section; is it an llm-baseline run?")
    model = llm.get("label") or display_name(llm["model"])
    return _row(model, metrics.get("provenance", {}).get("corpus"), llm["usage"])


def table4_rows(run_dirs: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Table 4 rows of several `llm-baseline` run folders (or metrics.json files), in the order given."""
    from ..compare import load_run

    return [table4_row(load_run(run_dir)) for run_dir in run_dirs]


def figure(value: Optional[float], pattern: str) -> str:
    """`value` formatted with `pattern` ("{:.1f}"), or "n/a" for None."""
    return "n/a" if value is None else pattern.format(value)


def count(n: int, noun: str) -> str:
    """"1 reply", "3 replies", "2 notes"."""
    if n != 1:
        noun = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{n} {noun}"


def table4(rows: Sequence[Mapping[str, Any]]) -> str:
    """The paper's Table 4 in markdown: model (reasoning effort) | mean time (s) | mean tokens | cost per 1,000
    responses (USD), with the number of replies and the price dates under it."""
    lines = ["| " + " | ".join(TABLE4_HEADER) + " |", "|---|---:|---:|---:|"]
    for row in rows:
        lines.append(
            f"| {row['model']} | {figure(row['mean_time_s'], '{:.1f}')} "
            f"| {figure(row['mean_total_tokens'], '{:,.0f}')} "
            f"| {figure(row['cost_per_1000_responses_usd'], '{:.2f}')} |"
        )
    lines.append("")
    counts = "; ".join(
        f"{row['model']}{' on ' + row['corpus'] if row.get('corpus') else ''}: {count(row['responses'], 'reply')}"
        + (f", list prices of {row['price_date']}" if row.get("price_date") else ", no price")
        for row in rows
    )
    lines += [
        "Means over successful replies (tokens and cost: those whose usage was reported); tokens are prompt + "
        f"completion (reasoning included); cost at the providers' list prices in the config. {counts}.",
        "",
    ]
    return "\n".join(lines)


def render_llm_report(section: Mapping[str, Any]) -> str:
    """The LLM part appended to report.md: Table 4 row, usage totals, extraction counts.

    section: the `llm` section of metrics.json (`baseline.llm_section`).
    """
    usage, extraction = section["usage"], section["extraction"]
    model = section["model"]
    prices = section["prices"]
    price_text = (
        f"{prices['input']} / {prices['output']} USD per 1M input / output tokens, list prices of {prices['date']} "
        f"({prices.get('source', 'no source given')})"
        if prices
        else "none (no price in the config)"
    )
    lines = [
        "",
        "## LLM (Table 4 layout)",
        "",
        f"Model {model['name']} on {model['host']} (reasoning effort {model['reasoning_effort'] or 'none'}, "
        f"temperature {model['temperature'] if model['temperature'] is not None else 'not sent'}); prices: "
        f"{price_text}.",
        "",
        table4([_row(section["label"], None, usage)]),
        "| usage | value |",
        "|---|---|",
        *(f"| {name} | {_fmt(value)} |" for name, value in usage.items()),
        "",
        "| extraction | count |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in extraction.items()),
        "",
        "Hallucinations: extracted texts found nowhere in the note. Type errors: labels outside the schema. "
        "Neither becomes a span; both are counted.",
        "",
    ]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.6g}"  # significant digits: a cost per reply is a fraction of a cent
    return str(value)
