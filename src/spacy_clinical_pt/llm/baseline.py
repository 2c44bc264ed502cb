"""LLM pipelines scored like trained ones (`llm-baseline`): the paper's LLM baselines and their Table 4.

    spacy-clinical-pt llm-presets -o configs/llm
    spacy-clinical-pt llm-baseline configs/llm/gpt-5-minimal.cfg corpus/nestedclinbr/iterative/test.spacy \\
        --examples corpus/nestedclinbr/iterative/train.spacy --output metrics/llm/gpt-5-minimal --allow-remote

`run_baseline` runs a spacy-llm pipeline (`load_llm_pipeline`) over a gold DocBin and evaluates it with
`evaluate.evaluate_pipeline`, so its run folder is read by `aggregate` and `compare` beside trained models (a
span-only pipeline: entity level, and token level at its fixed output). It adds to metrics.json an `llm` section:
the model and its dated prices, `usage` (requests, replies, means and totals of time, tokens and cost:
`usage.usage_summary`) and `extraction` (what the task made of the replies: hallucinations, type errors, parse and
request errors, exact and case-insensitive matches). Besides metrics.json and report.md it writes `usage.csv`
(one row per note: its index, id and accounting, never its text; a request that failed or a reply that could
not be read says why in `request_error` / `parse_error`) and `table4.md` (`table4.py`). A note whose requests all
failed is scored as finding nothing and returned in `BaselineRun.failed`; an unreadable reply is the model's own
miss. Neither is cached, so a rerun asks for them again.

A reply served from the client's cache keeps the tokens and latency of its original request and is priced again
from the config, so a rerun gives the same Table 4 (`cost_usd_paid` counts only the replies requested in this run).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, NamedTuple, Optional, Sequence
from urllib.parse import urlsplit

from confection import ConfigValidationError
from spacy.language import Language
from spacy.tokens import Doc

from ..corpus import doc_id, excerpt
from .task import REPLY_COUNTS
from .table4 import display_name, render_llm_report, table4, table4_row
from .usage import TOKEN_FIELDS, USAGE_KEY, usage_summary

if TYPE_CHECKING:
    from ..evaluate import Evaluation

LLM_COMPONENT = "llm"
RECORDER = "clinical_pt_llm_usage"
# usage.csv columns: where the note is, then its accounting (ChatResponse.accounting()), then the task's counts.
USAGE_COLUMNS = (
    "index", "doc_id", "model", "latency_s", *TOKEN_FIELDS, "cost_usd", "cached", "error", "attempts",
    "cache_error", *REPLY_COUNTS, "parse_error", "request_error",
)


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
    config: str | Path,
    overrides: Optional[Mapping[str, Any]] = None,
    allow_remote: bool = False,
    examples: Optional[str | Path] = None,
) -> Language:
    """Assemble the spacy-llm pipeline of `config` (spacy_llm.util.assemble).

    overrides: dotted config keys -> values (e.g. {"paths.examples": "train.spacy"}; `parse_overrides`).
    allow_remote: opt in to sending notes to a host that is not this machine
        (sets components.llm.model.allow_remote = true); without it such a model refuses to be built.
    examples: the training DocBin the few-shot example is drawn from (paths.examples); None: the config's.
    """
    from spacy_llm.util import assemble

    config = Path(config)
    if not config.is_file():
        raise FileNotFoundError(
            f"{config}: no such config file (local.cfg is in configs/llm/; `spacy-clinical-pt llm-presets -o "
            "configs/llm` writes the others)"
        )
    settings = dict(overrides or {})
    if examples is not None:
        settings["paths.examples"] = str(examples)
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
    usage = usage_summary(rows, priced=prices is not None)
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


class BaselineRun(NamedTuple):
    """What `run_baseline` did. section: the `llm` section of metrics.json. metrics: the whole metrics.json.
    notes: the notes sent. written: the files written. failed: (note id, request error) of each note that got no
    reply (scored as finding nothing)."""

    section: dict[str, Any]
    metrics: dict[str, Any]
    notes: int
    written: list[Path]
    failed: list[tuple[str, str]]


def run_baseline(
    nlp: Language,
    test: Path,
    output: Path,
    *,
    config: Path,
    examples: Optional[Path] = None,
    name: Optional[str] = None,
    corpus: Optional[str] = None,
    limit: Optional[int] = None,
    gold_key: str = "sc",
) -> BaselineRun:
    """Run the LLM pipeline `nlp` over the gold DocBin `test`, evaluate it and write the run folder `output`.

    config, examples: the files the pipeline came from (provenance). name: the model name in tables (default:
        `run_label`). corpus: the corpus name in tables (default: the test file's folder). limit: only the first N
        notes. gold_key: doc.spans key of the gold entities.
    Raises ValueError or OSError naming the file (a bad DocBin, an output that cannot be written).
    """
    from ..convert import load_docs
    from ..evaluate import evaluate_pipeline

    docs = load_docs(test, nlp)
    if limit is not None:
        docs = docs[:limit]
    recorder = nlp.add_pipe(RECORDER, after=LLM_COMPONENT)
    try:
        evaluation = evaluate_pipeline(nlp, docs, policy="fixed", gold_key=gold_key, spans_key=task_spans_key(nlp))
    finally:
        nlp.remove_pipe(RECORDER)
    provenance = {"config": config, "test": test, "examples": examples, "name": name, "corpus": corpus, "limit": limit}
    try:
        written, section = _write_run(nlp, evaluation, recorder.rows, docs, output, provenance)
    except OSError as err:
        raise OSError(f"{output}: the results could not be written ({err.strerror or type(err).__name__})") from None
    failed = [(row["doc_id"], row["request_error"]) for row in usage_rows(recorder.rows, docs) if row["request_error"]]
    return BaselineRun(section, evaluation.metrics, len(docs), written, failed)


def _write_run(
    nlp: Language, evaluation: Evaluation, rows: Sequence[Mapping[str, Any]], docs: Sequence[Doc], output: Path,
    given: Mapping[str, Any],
) -> tuple[list[Path], dict[str, Any]]:
    """Write an llm-baseline run folder: metrics.json, report.md (with the LLM part), usage.csv, table4.md.

    given: the `run_baseline` arguments that go into provenance (config, test, examples, name, corpus, limit).
    RETURNS: the paths written and the `llm` section of metrics.json.
    """
    from ..evaluate import provenance, write_outputs
    from ..results import write_csv

    metrics = evaluation.metrics
    section = llm_section(nlp, rows)
    metrics["provenance"] = provenance(
        nlp, given["config"], {"test": given["test"], "examples": given["examples"]},
        label=given["name"] or run_label(section["model"]), corpus=given["corpus"],
    )
    metrics["provenance"]["threshold_policy"] = metrics["threshold"]["description"]
    metrics["provenance"]["docs_limit"] = given["limit"]
    metrics["llm"] = section
    written = write_outputs(evaluation, output)
    with open(output / "report.md", "a", encoding="utf8") as report:
        report.write(render_llm_report(section))
    written.append(write_csv(usage_rows(rows, docs), output / "usage.csv"))
    table = output / "table4.md"
    table.write_text(table4([table4_row(metrics)]), encoding="utf8")
    written.append(table)
    return written, section
