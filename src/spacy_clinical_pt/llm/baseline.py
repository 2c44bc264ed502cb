"""LLM pipelines scored like trained ones (`llm-baseline`), the paper's Table 4, and silver corpora (`annotate-silver`).

    spacy-clinical-pt llm-baseline configs/llm/gpt-5-minimal.cfg corpus/nestedclinbr/iterative/test.spacy \\
        --examples corpus/nestedclinbr/iterative/train.spacy --output metrics/llm/gpt-5-minimal --allow-remote
    spacy-clinical-pt annotate-silver configs/llm/local.cfg notes/ corpus/silver.spacy --unit sentence \\
        --examples corpus/nestedclinbr/iterative/train.spacy --report corpus/silver.report.json

`llm-baseline` runs a spacy-llm pipeline (`configs/llm/*.cfg`) over a gold DocBin and evaluates it with
`evaluate.evaluate_pipeline`, so its run folder is read by `aggregate` and `compare` beside trained models (a
span-only pipeline: entity level, and token level at its fixed output). It adds to metrics.json an `llm` section:
the model and its dated prices, `usage` (requests, replies, means and totals of time, tokens and cost: the paper's
Table 4 figures) and `extraction` (what the task made of the replies: hallucinations, type errors, parse and
request errors, exact and case-insensitive matches). Besides metrics.json and report.md it writes `usage.csv`
(one row per note: its index, id and accounting, never its text; a request that failed or a reply that could
not be read says why in `request_error` / `parse_error`) and `table4.md`. `table4_rows` + `table4` build the
table across several run folders. A note whose requests all failed is scored as finding nothing, named on the
console, and the command exits 3; an unreadable reply is the model's own miss (exit 0). Neither is cached, so a
rerun asks for them again.

`annotate-silver` has an LLM label unlabelled notes (as seed 003 does): whole notes or sentences, units under
`--min-chars` characters dropped before any request, units where the LLM found no entity dropped after (unless
`--keep-empty`), units whose request or reply failed, or over the pipeline's `max_length`, always dropped and
listed with their reason in the report (`failed`): the command then exits 3, and a rerun asks for them again.
The DocBin it writes (spans in "sc", ids in `doc.user_data["clinical_pt"]`) trains with `configs/cnn.cfg` like
any converted corpus.

Means are over successful replies (a failed request has no tokens worth averaging), tokens and cost over those
whose usage the provider reported (`unknown_usage` counts the others); a reply served from the client's cache
keeps the tokens and latency of its original request and is priced again from the config, so a rerun gives the
same Table 4 (`cost_usd_paid` counts only the replies requested in this run).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Iterable, Mapping, NamedTuple, Optional, Sequence
from urllib.parse import urlsplit

import typer
from confection import ConfigValidationError
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from tqdm import tqdm

from ..corpus import USER_DATA_KEY, ConversionError, doc_id, excerpt
from .cache import check_writable
from .task import REPLY_COUNTS
from .usage import USAGE_KEY

if TYPE_CHECKING:
    from ..evaluate import Evaluation

LLM_COMPONENT = "llm"
RECORDER = "clinical_pt_llm_usage"
TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "total_tokens")
# usage.csv columns: where the note is, then its accounting (ChatResponse.accounting()), then the task's counts.
USAGE_COLUMNS = (
    "index", "doc_id", "model", "latency_s", *TOKEN_FIELDS, "cost_usd", "cached", "error", "attempts",
    "cache_error", *REPLY_COUNTS, "parse_error", "request_error",
)
# How many failed notes or units the console names (all of them are in usage.csv or the report).
NAMED_FAILURES = 5
TABLE4_HEADER = ("Model (reasoning effort)", "Mean time (s)", "Mean tokens", "Cost per 1,000 responses (USD)")


# Options both commands take.
ExamplesOption = Annotated[
    Optional[Path],
    typer.Option("--examples", help="Training DocBin the few-shot example is drawn from (paths.examples)."),
]
AllowRemoteOption = Annotated[
    bool, typer.Option("--allow-remote", help="Opt in to sending the notes to a remote API (the config's host).")
]
OverridesOption = Annotated[
    Optional[list[str]],
    typer.Option("--set", help="Config override key=value (repeatable), e.g. components.llm.model.name=MODEL."),
]


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """`--set key=value` pairs as config overrides; a value is read as JSON when it parses, else as a string.

    items: e.g. ["components.llm.model.name=qwen2.5:7b", 'components.llm.task.labels=["Problema"]'].
    """
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value (e.g. components.llm.model.name=gpt-5), got {item!r}")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value
    return overrides


def load_llm_pipeline(
    config: str | Path, overrides: Optional[Mapping[str, Any]] = None, allow_remote: bool = False
) -> Language:
    """Assemble the spacy-llm pipeline of `config` (spacy_llm.util.assemble).

    overrides: dotted config keys -> values (e.g. {"paths.examples": "train.spacy"}).
    allow_remote: opt in to sending notes to a host that is not this machine
        (sets components.llm.model.allow_remote = true); without it such a model refuses to be built.
    """
    from spacy_llm.util import assemble

    config = Path(config)
    if not config.is_file():
        raise FileNotFoundError(f"{config}: no such config file (ready ones are in configs/llm/)")
    settings = dict(overrides or {})
    if allow_remote:
        settings[f"components.{LLM_COMPONENT}.model.allow_remote"] = True
    try:
        nlp = assemble(config, overrides=settings)
    except ConfigValidationError as error:
        raise ValueError(f"{config}: not a usable spacy-llm config ({_config_problem(error)})") from None
    if LLM_COMPONENT not in nlp.pipe_names:
        raise ValueError(f"{config}: no '{LLM_COMPONENT}' component in the pipeline (it has: {nlp.pipe_names})")
    return nlp


def _config_problem(error: ConfigValidationError) -> str:
    """What is wrong with a config, without quoting it: the file may be a note given by mistake."""
    if error.errors:
        first = error.errors[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "config"
        more = f" (and {len(error.errors) - 1} more)" if len(error.errors) > 1 else ""
        return f"{excerpt(where)}: {excerpt(str(first.get('msg', 'invalid')))}{more}"
    # A parse error: confection's description quotes the offending line; keep only its number.
    line = re.search(r"line:? (\d+)", str(error.desc or ""))
    return "it cannot be parsed as a config" + (f" (line {line.group(1)})" if line else "")


def _llm_config(nlp: Language) -> Mapping[str, Any]:
    return nlp.config["components"][LLM_COMPONENT]


def task_spans_key(nlp: Language) -> str:
    """The `doc.spans` key the pipeline's LLM task writes."""
    return str(_llm_config(nlp)["task"].get("spans_key", "sc"))


def model_settings(nlp: Language) -> dict[str, Any]:
    """The model section of the `llm` report: name, host, reasoning effort, temperature, prices (no key, no URL
    credentials)."""
    model = _llm_config(nlp)["model"]
    prices = model.get("prices")
    return {
        "name": model.get("name"),
        "host": urlsplit(str(model.get("base_url", ""))).hostname,
        "reasoning_effort": model.get("reasoning_effort"),
        "temperature": model.get("temperature"),
        "prices": dict(prices) if prices else None,
    }


def run_label(settings: Mapping[str, Any]) -> str:
    """The run's model name in tables: "gpt-5-minimal", "gpt-4.1", "qwen2.5:7b-instruct"."""
    effort = settings.get("reasoning_effort")
    return f"{settings['name']}-{effort}" if effort else str(settings["name"])


def display_name(settings: Mapping[str, Any]) -> str:
    """The model as Table 4 names it: "gpt-5 (minimal)"."""
    effort = settings.get("reasoning_effort")
    return f"{settings['name']} ({effort})" if effort else str(settings["name"])


class UsageRecorder:
    """Keeps each doc's LLM accounting, in pipeline order, while `evaluate` runs the pipeline (it keeps spans only)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def __call__(self, doc: Doc) -> Doc:
        self.rows.append(dict(doc.user_data.get(USAGE_KEY, {})))
        return doc


@Language.factory(RECORDER)
def make_usage_recorder(nlp: Language, name: str) -> UsageRecorder:
    """A run-time helper of `llm_baseline`, added after the LLM and removed again; never saved with a pipeline."""
    return UsageRecorder()


def _mean(total: float, n: int) -> Optional[float]:
    return total / n if n else None


def usage_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Totals and means of per-doc accounting rows (`doc.user_data[USAGE_KEY]`): the `usage` section.

    Means are over successful replies (no `error`); those of tokens and cost over the replies whose figure is
    known (`unknown_usage`: replies with a token figure the provider did not give as a count). cost_usd: at the
    configured prices (None when the model has no prices); cost_usd_paid: only the replies requested in this run
    (not cached).
    """
    requests = [row for row in rows if row]
    replies = [row for row in requests if not row.get("error")]
    fresh = [row for row in replies if not row.get("cached")]
    known = {name: [int(row[name]) for row in replies if row.get(name) is not None] for name in TOKEN_FIELDS}
    time_total = sum(float(row.get("latency_s") or 0.0) for row in replies)
    priced = any(row.get("cost_usd") is not None for row in requests)
    costs = [float(row["cost_usd"]) for row in replies if row.get("cost_usd") is not None]
    summary: dict[str, Any] = {
        "requests": len(requests),
        "responses": len(replies),
        "request_errors": len(requests) - len(replies),
        "cached_responses": sum(1 for row in replies if row.get("cached")),
        "unknown_usage": sum(1 for row in replies if any(row.get(name) is None for name in TOKEN_FIELDS)),
        "cache_errors": sum(1 for row in requests if row.get("cache_error")),
        "attempts": sum(int(row.get("attempts") or 0) for row in requests),
        "total_time_s": time_total,
        "mean_time_s": _mean(time_total, len(replies)),
    }
    for name in TOKEN_FIELDS:
        summary[f"mean_{name}"] = _mean(sum(known[name]), len(known[name]))
    for name in TOKEN_FIELDS:
        summary[name if name == "total_tokens" else f"total_{name}"] = sum(known[name])
    summary.update(
        cost_usd=sum(costs) if priced else None,
        cost_usd_paid=sum(float(row["cost_usd"]) for row in fresh if row.get("cost_usd") is not None)
        if priced else None,
        cost_per_1000_responses_usd=_mean(sum(costs) * 1000, len(costs)) if priced else None,
    )
    return summary


def extraction_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """The task's per-doc counts (`task.REPLY_COUNTS`) summed, and the docs whose reply was unreadable
    (parse_errors) or never came (request_errors)."""
    sums = {name: sum(int(row.get(name) or 0) for row in rows) for name in REPLY_COUNTS}
    sums["parse_errors"] = sum(1 for row in rows if row.get("parse_error"))
    sums["request_errors"] = sum(1 for row in rows if row.get("request_error"))
    return sums


def llm_section(nlp: Language, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The `llm` section of metrics.json: model, prices, `usage` and `extraction` of one run."""
    settings = model_settings(nlp)
    prices = settings.pop("prices")
    usage = usage_summary(rows)
    usage["price_date"] = prices.get("date") if prices else None
    return {
        "model": settings,
        "label": display_name(settings),
        "prices": prices,
        "usage": usage,
        "extraction": extraction_summary(rows),
    }


def usage_rows(rows: Sequence[Mapping[str, Any]], docs: Sequence[Doc]) -> list[dict[str, Any]]:
    """usage.csv rows: per doc its index, id and accounting (USAGE_COLUMNS); no text."""
    table = []
    for index, (row, doc) in enumerate(zip(rows, docs)):
        entry = {"index": index, "doc_id": doc_id(doc) or f"doc{index}"}
        entry.update({name: row.get(name) for name in USAGE_COLUMNS[2:]})
        table.append(entry)
    return table


def table4_row(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """One Table 4 row from a metrics.json written by `llm-baseline` (its `llm` section)."""
    llm = metrics.get("llm")
    if not isinstance(llm, Mapping) or "usage" not in llm:
        label = metrics.get("provenance", {}).get("label", "this run")
        raise ValueError(f"{label}: metrics.json has no 'llm' usage section; is it an llm-baseline run?")
    usage = llm["usage"]
    return {
        "model": llm.get("label") or display_name(llm["model"]),
        "corpus": metrics.get("provenance", {}).get("corpus"),
        "responses": usage["responses"],
        "mean_time_s": usage["mean_time_s"],
        "mean_total_tokens": usage["mean_total_tokens"],
        "cost_per_1000_responses_usd": usage["cost_per_1000_responses_usd"],
        "price_date": usage.get("price_date"),
    }


def table4_rows(run_dirs: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Table 4 rows of several `llm-baseline` run folders (or metrics.json files), in the order given."""
    from ..compare import load_run

    return [table4_row(load_run(run_dir)) for run_dir in run_dirs]


def _figure(value: Optional[float], pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def table4(rows: Sequence[Mapping[str, Any]]) -> str:
    """The paper's Table 4 in markdown: model (reasoning effort) | mean time (s) | mean tokens | cost per 1,000
    responses (USD), with the number of replies and the price dates under it."""
    lines = ["| " + " | ".join(TABLE4_HEADER) + " |", "|---|---:|---:|---:|"]
    for row in rows:
        lines.append(
            f"| {row['model']} | {_figure(row['mean_time_s'], '{:.1f}')} "
            f"| {_figure(row['mean_total_tokens'], '{:,.0f}')} "
            f"| {_figure(row['cost_per_1000_responses_usd'], '{:.2f}')} |"
        )
    lines.append("")
    counts = "; ".join(
        f"{row['model']}{' on ' + row['corpus'] if row.get('corpus') else ''}: {_count(row['responses'], 'reply')}"
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
    """The LLM part appended to report.md: Table 4 row, usage totals, extraction counts."""
    usage, extraction = section["usage"], section["extraction"]
    model = section["model"]
    prices = section["prices"]
    price_text = (
        f"{prices['input']} / {prices['output']} USD per 1M input / output tokens, list prices of {prices['date']} "
        f"({prices.get('source', 'no source given')})"
        if prices
        else "none (no price in the config)"
    )
    row = {
        "model": section["label"],
        "corpus": None,
        "responses": usage["responses"],
        "mean_time_s": usage["mean_time_s"],
        "mean_total_tokens": usage["mean_total_tokens"],
        "cost_per_1000_responses_usd": usage["cost_per_1000_responses_usd"],
        "price_date": usage["price_date"],
    }
    lines = [
        "",
        "## LLM (Table 4 layout)",
        "",
        f"Model {model['name']} on {model['host']} (reasoning effort {model['reasoning_effort'] or 'none'}, "
        f"temperature {model['temperature'] if model['temperature'] is not None else 'not sent'}); prices: "
        f"{price_text}.",
        "",
        table4([row]),
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


def _count(n: int, noun: str) -> str:
    """"1 reply", "3 replies", "2 notes"."""
    if n != 1:
        noun = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{n} {noun}"


def _command_pipeline(
    config: Path, overrides: Optional[list[str]], examples: Optional[Path], allow_remote: bool
) -> Language:
    """The pipeline of a command: `--set` overrides, `--examples` as paths.examples, `--allow-remote`."""
    settings = parse_overrides(overrides or [])
    if examples is not None:
        settings["paths.examples"] = str(examples)
    return load_llm_pipeline(config, settings, allow_remote)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def _failures(failed: Sequence[tuple[str, str]], noun: str, what: str) -> str:
    """The console line naming failed notes or units: "2 notes without a reply, ... (rerun to retry them): n2:
    HTTP 500 ...; n7: timeout". failed: (id, reason) pairs, the first NAMED_FAILURES named. what: follows the
    counted noun."""
    named = "; ".join(f"{identifier}: {reason}" for identifier, reason in failed[:NAMED_FAILURES])
    more = f"; and {len(failed) - NAMED_FAILURES} more" if len(failed) > NAMED_FAILURES else ""
    them = "it" if len(failed) == 1 else "them"
    return f"{_count(len(failed), noun)} {what} (rerun to retry {them}): {named}{more}"


def llm_baseline_command(
    config: Annotated[Path, typer.Argument(help="spacy-llm config, e.g. configs/llm/local.cfg.")],
    test: Annotated[Path, typer.Argument(help="Gold test set, a .spacy DocBin written by `convert`/`split`.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for metrics.json, report.md, usage.csv, "
                                         "table4.md.")] = Path("metrics/llm"),
    examples: ExamplesOption = None,
    allow_remote: AllowRemoteOption = False,
    label: Annotated[
        Optional[str],
        typer.Option("--label", help="Model name in aggregate/compare tables (default: model-effort)."),
    ] = None,
    corpus: Annotated[
        Optional[str], typer.Option("--corpus", help="Corpus name in tables (default: the test file's folder name).")
    ] = None,
    limit: Annotated[
        Optional[int], typer.Option("--limit", min=1, help="Only the first N notes (a cheap trial run).")
    ] = None,
    gold_key: Annotated[str, typer.Option("--gold-key", help="doc.spans key of the gold entities.")] = "sc",
    overrides: OverridesOption = None,
) -> None:
    """Run an LLM pipeline over a test set and evaluate it like a trained pipeline, with its cost and errors."""
    from ..convert import load_docs
    from ..evaluate import evaluate_pipeline

    try:
        check_writable(output, "--output", "give another folder")
        nlp = _command_pipeline(config, overrides, examples, allow_remote)
        docs = load_docs(test, nlp)
    except (ValueError, OSError) as err:
        raise _fail(str(err)) from None
    if limit is not None:
        docs = docs[:limit]
    recorder = nlp.add_pipe(RECORDER, after=LLM_COMPONENT)
    try:
        evaluation = evaluate_pipeline(nlp, docs, policy="fixed", gold_key=gold_key, spans_key=task_spans_key(nlp))
    except ValueError as err:
        raise _fail(str(err)) from None
    finally:
        nlp.remove_pipe(RECORDER)
    try:
        written, section = _write_baseline(nlp, evaluation, recorder.rows, docs, output,
                                           config=config, test=test, examples=examples, label=label, corpus=corpus,
                                           limit=limit)
    except OSError as err:
        raise _fail(f"{output}: the results could not be written ({err.strerror or type(err).__name__})") from None
    _echo_baseline(section, evaluation.metrics, len(docs), written)
    failed = [(row["doc_id"], row["request_error"]) for row in usage_rows(recorder.rows, docs)
              if row["request_error"]]
    if failed:
        typer.echo(_failures(failed, "note", "without a reply, scored as finding nothing"), err=True)
        raise typer.Exit(code=3)


def _write_baseline(
    nlp: Language, evaluation: Evaluation, rows: Sequence[Mapping[str, Any]], docs: Sequence[Doc], output: Path, *,
    config: Path, test: Path, examples: Optional[Path], label: Optional[str], corpus: Optional[str],
    limit: Optional[int],
) -> tuple[list[Path], dict[str, Any]]:
    """Write an llm-baseline run folder: metrics.json, report.md (with the LLM part), usage.csv, table4.md.

    RETURNS: the paths written and the `llm` section of metrics.json.
    """
    from ..evaluate import provenance, write_outputs
    from ..results import write_csv

    metrics = evaluation.metrics
    section = llm_section(nlp, rows)
    metrics["provenance"] = provenance(
        nlp, config, {"test": test, "examples": examples}, label=label or run_label(section["model"]), corpus=corpus
    )
    metrics["provenance"]["threshold_policy"] = metrics["threshold"]["description"]
    metrics["provenance"]["docs_limit"] = limit
    metrics["llm"] = section
    written = write_outputs(evaluation, output)
    with open(output / "report.md", "a", encoding="utf8") as report:
        report.write(render_llm_report(section))
    written.append(write_csv(usage_rows(rows, docs), output / "usage.csv"))
    table = output / "table4.md"
    table.write_text(table4([table4_row(metrics)]), encoding="utf8")
    written.append(table)
    return written, section


def _echo_baseline(section: Mapping[str, Any], metrics: Mapping[str, Any], notes: int, written: list[Path]) -> None:
    """The console summary of an llm-baseline run."""
    usage, extraction = section["usage"], section["extraction"]
    token = metrics["token"]["IO"]
    strict = metrics["entity"]["strict"]["micro"]
    cost = usage["cost_per_1000_responses_usd"]
    typer.echo(
        f"{section['label']}: {_count(usage['responses'], 'reply')} to {_count(notes, 'note')} "
        f"({usage['cached_responses']} from the cache), {_count(usage['request_errors'], 'request error')}, "
        f"{_count(extraction['parse_errors'], 'unparsable reply')}"
    )
    typer.echo(
        f"entity strict micro F1 {strict['f1']:.4f}; token IO micro F1 {token['micro']['f1']:.4f}, "
        f"macro F1 {token['macro']['f1']:.4f}"
    )
    typer.echo(f"hallucinations {extraction['hallucinations']}, type errors {extraction['type_errors']}")
    typer.echo(
        f"mean {_figure(usage['mean_time_s'], '{:.1f}')} s, {_figure(usage['mean_total_tokens'], '{:,.0f}')} tokens, "
        + (f"US${cost:.2f} per 1,000 replies (list prices of {usage['price_date']})" if cost is not None
           else "no price")
    )
    typer.echo("wrote " + ", ".join(str(p) for p in written))


# --- silver annotation ---


class Unit(NamedTuple):
    """One piece of text sent to the LLM: a note or one of its sentences.

    doc_id: the unit's id ("note7", or "note7#3" for its third sentence). note_id: the note it comes from.
    start, end: the unit's character offsets in that note.
    """

    doc_id: str
    note_id: str
    text: str
    start: int
    end: int


class UnitKind(str, Enum):
    note = "note"
    sentence = "sentence"


def read_unlabelled(source: str | Path) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """The notes of `source` as (id, text), and the gold spans removed per spans key.

    source: a folder of .txt files, one .txt, a .jsonl with a "text" field (and optional "id"), or a .spacy DocBin
        (only its texts are used; its spans are removed and counted). Bad input raises ConversionError naming the
        file and the line.
    """
    from ..annotate import AnnotationReport, read_notes
    from ..convert import load_docs

    path = Path(source)
    removed: Counter = Counter()
    if path.suffix.lower() == ".spacy":
        notes = []
        for number, doc in enumerate(load_docs(path), start=1):
            removed.update({key: len(group) for key, group in doc.spans.items()})
            notes.append((doc_id(doc) or f"{path.stem}-{number}", doc.text))
        return notes, dict(removed)
    report = AnnotationReport()
    notes = [(note.doc_id, note.text) for note in read_notes(path, report)]
    if report.problems:
        first = report.problems[0]
        more = f" (and {len(report.problems) - 1} more problems)" if len(report.problems) > 1 else ""
        raise ConversionError(f"{first['where']}: {first['problem']}{more}")
    return notes, {}


def split_units(notes: Iterable[tuple[str, str]], unit: str = "note") -> Iterable[Unit]:
    """The units of each note: the whole note, or its sentences (spaCy's rule `sentencizer` on clinical tokens).

    A sentence keeps its offsets in the note (leading and trailing whitespace left out) and the id "NOTE#n",
    n counting the note's sentences from 1.
    """
    if unit not in {u.value for u in UnitKind}:
        raise ValueError(f"unknown unit {unit!r}: use note or sentence")
    if unit == "note":
        for note_id, text in notes:
            yield Unit(note_id, note_id, text, 0, len(text))
        return
    from ..tokenizer import clinical_nlp

    splitter = clinical_nlp()
    splitter.add_pipe("sentencizer")
    for note_id, text in notes:
        for number, sent in enumerate(splitter(text).sents, start=1):
            piece = sent.text
            start = sent.start_char + len(piece) - len(piece.lstrip())
            end = sent.start_char + len(piece.rstrip())
            if start < end:
                yield Unit(f"{note_id}#{number}", note_id, text[start:end], start, end)


@dataclass
class SilverReport:
    """What `annotate_silver` read, sent, dropped and kept (counts, ids and reasons, no text).

    failed: per unit dropped as failed, {"doc_id", "reason"} (a request error, an unreadable reply, a unit too long).
    """

    notes: int = 0
    units: int = 0
    dropped_short: int = 0
    dropped_empty: int = 0
    dropped_failed: int = 0
    kept: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    entities_per_label: Counter = field(default_factory=Counter)
    gold_spans_removed: dict[str, int] = field(default_factory=dict)
    extraction: dict[str, int] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "notes": self.notes,
            "units": self.units,
            "dropped": {"short": self.dropped_short, "empty": self.dropped_empty, "failed": self.dropped_failed},
            "failed": self.failed,
            "kept": self.kept,
            "entities": sum(self.entities_per_label.values()),
            "entities_per_label": dict(sorted(self.entities_per_label.items())),
            "gold_spans_removed": self.gold_spans_removed,
            "extraction": self.extraction,
            "usage": self.usage,
        }

    def summary(self) -> str:
        labels = ", ".join(f"{k} {v}" for k, v in sorted(self.entities_per_label.items())) or "none"
        ex, usage = self.extraction, self.usage
        cost = usage.get("cost_usd")
        return "\n".join([
            f"{self.notes} notes -> {self.units} units; dropped {self.dropped_short} short, {self.dropped_empty} "
            f"without entities, {self.dropped_failed} failed (request or reply); kept {self.kept}",
            f"entities kept: {sum(self.entities_per_label.values())} ({labels})",
            f"hallucinations {ex.get('hallucinations', 0)}, type errors {ex.get('type_errors', 0)}, "
            f"parse errors {ex.get('parse_errors', 0)}, request errors {ex.get('request_errors', 0)}",
            f"{usage.get('responses', 0)} replies ({usage.get('cached_responses', 0)} cached), "
            f"{usage.get('total_tokens', 0):,} tokens, "
            + (f"US${cost:.4f} at list prices" if cost is not None else "no price"),
        ])


def annotate_silver(
    nlp: Language,
    units: Sequence[Unit],
    *,
    min_chars: int = 15,
    keep_empty: bool = False,
    limit: Optional[int] = None,
    report: Optional[SilverReport] = None,
) -> tuple[list[Doc], SilverReport]:
    """Label `units` with the LLM pipeline `nlp` and keep the silver docs worth training on.

    min_chars: units shorter than this (whitespace stripped) are dropped before any request; units longer than
        `nlp.max_length` too, as failed.
    keep_empty: keep units where the LLM found no entity (default: drop them, as seed 003 drops all-O sentences).
    limit: send at most this many units (after the length filter).
    RETURNS: (silver docs with spans in "sc" and `user_data["clinical_pt"] = {"doc_id", "entities": {},
        "source": {"doc_id", "start", "end"}}`, the report).
    """
    report = report or SilverReport()
    report.units += len(units)
    sent = [unit for unit in units if len(unit.text.strip()) >= min_chars]
    report.dropped_short += len(units) - len(sent)
    if limit is not None:
        sent = sent[:limit]
    for unit in sent:
        if len(unit.text) > nlp.max_length:
            report.dropped_failed += 1
            report.failed.append({"doc_id": unit.doc_id, "reason": (
                f"{len(unit.text):,} characters, over the pipeline's limit of {nlp.max_length:,} (nlp.max_length): "
                "try --unit sentence")})
    sent = [unit for unit in sent if len(unit.text) <= nlp.max_length]
    key = task_spans_key(nlp)
    rows: list[dict[str, Any]] = []
    kept: list[Doc] = []
    texts = ((unit.text, unit) for unit in sent)
    for doc, unit in tqdm(nlp.pipe(texts, as_tuples=True), total=len(sent), desc="silver", unit="unit", disable=None):
        row = doc.user_data.pop(USAGE_KEY, {})
        rows.append(row)
        spans = list(doc.spans.get(key, []))
        reason = row.get("request_error") or row.get("parse_error")
        if reason:
            # No entities because the reply never came or could not be read: not a note without entities.
            report.dropped_failed += 1
            report.failed.append({"doc_id": unit.doc_id, "reason": str(reason)})
            continue
        if not spans and not keep_empty:
            report.dropped_empty += 1
            continue
        if key != "sc":
            del doc.spans[key]
        doc.spans["sc"] = spans
        doc.user_data[USER_DATA_KEY] = {
            "doc_id": unit.doc_id,
            "entities": {},
            "source": {"doc_id": unit.note_id, "start": unit.start, "end": unit.end},
        }
        report.entities_per_label.update(span.label_ for span in spans)
        kept.append(doc)
    report.kept += len(kept)
    report.extraction = extraction_summary(rows)
    report.usage = usage_summary(rows)
    return kept, report


def annotate_silver_command(
    config: Annotated[Path, typer.Argument(help="spacy-llm config, e.g. configs/llm/local.cfg.")],
    unlabelled: Annotated[
        Path, typer.Argument(help="Notes: a folder of .txt, one .txt, a .jsonl with 'text' (and 'id'), or a .spacy.")
    ],
    output: Annotated[Path, typer.Argument(help="The silver DocBin to write (.spacy).")],
    unit: Annotated[UnitKind, typer.Option("--unit", help="Send whole notes or sentences.")] = UnitKind.note,
    min_chars: Annotated[
        int, typer.Option("--min-chars", min=0, help="Drop units shorter than this (characters) before sending.")
    ] = 15,
    keep_empty: Annotated[
        bool, typer.Option("--keep-empty/--drop-empty", help="Keep units where the LLM found no entity.")
    ] = False,
    examples: ExamplesOption = None,
    allow_remote: AllowRemoteOption = False,
    report_path: Annotated[
        Optional[Path], typer.Option("--report", help="Write the counts (no text) to this JSON file.")
    ] = None,
    limit: Annotated[
        Optional[int], typer.Option("--limit", min=1, help="Send at most N units (a cheap trial run).")
    ] = None,
    overrides: OverridesOption = None,
) -> None:
    """Label unlabelled notes with an LLM into a silver training DocBin (filters as seed 003; counts reported).

    Exits 3 when some units failed (listed in the report; a rerun asks for them again), 1 on bad input.
    """
    try:
        check_writable(output, "output", "give another file", folder=False)
        if report_path is not None:
            check_writable(report_path, "--report", "give another file", folder=False)
        notes, removed = read_unlabelled(unlabelled)
        nlp = _command_pipeline(config, overrides, examples, allow_remote)
        units = list(split_units(notes, unit.value))
    except (ValueError, OSError) as err:
        raise _fail(str(err)) from None
    report = SilverReport(notes=len(notes), gold_spans_removed=removed)
    docs, report = annotate_silver(nlp, units, min_chars=min_chars, keep_empty=keep_empty, limit=limit, report=report)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        DocBin(store_user_data=True, docs=docs).to_disk(output)
        if report_path is not None:
            report_path.parent.mkdir(parents=True, exist_ok=True)
            report_path.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf8")
    except OSError as err:
        raise _fail(f"{err.filename or output}: could not be written ({err.strerror or type(err).__name__})") from None
    typer.echo(report.summary())
    if removed:
        typer.echo("gold spans removed from the input: " + ", ".join(f"{k} {v}" for k, v in removed.items()))
    typer.echo(f"wrote {output} ({report.kept} docs)" + (f" and {report_path}" if report_path else ""))
    if report.failed:
        failed = [(entry["doc_id"], entry["reason"]) for entry in report.failed]
        typer.echo(_failures(failed, "unit", "failed, no entities read"), err=True)
        raise typer.Exit(code=3)
