"""Silver corpora (`annotate-silver`): an LLM labels unlabelled notes, as seed 003 does.

    spacy-clinical-pt annotate-silver configs/llm/local.cfg notes/ -o corpus/silver.spacy --unit sentence \\
        --examples corpus/nestedclinbr/iterative/train.spacy --report corpus/silver.report.json

Whole notes or sentences are sent; units under `min_chars` characters are dropped before any request, units where
the LLM found no entity after (unless `keep_empty`); units whose request or reply failed, or over the pipeline's
`max_length`, are always dropped and listed with their reason in the report (`failed`; the command then exits 3
and a rerun asks for them again). The docs kept (spans in "sc", ids in `doc.user_data["clinical_pt"]`) train
with `configs/cnn.cfg` like any converted corpus.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple, Optional, Sequence

from spacy.language import Language
from spacy.tokens import Doc

from ..corpus import USER_DATA_KEY, ConversionError, doc_id
from .baseline import extraction_summary, model_settings, task_spans_key
from .table4 import count
from .usage import USAGE_KEY, usage_summary

# What `split_units` sends: whole notes, or their sentences.
UNITS = ("note", "sentence")


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
    if unit not in UNITS:
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
            + _cost_text(cost, usage.get("unknown_cost")),
        ])


def _cost_text(cost: Optional[float], unknown: Optional[int]) -> str:
    """The cost in a summary line: at list prices, unknown (prices but no token counts), or no price."""
    if cost is not None:
        missing = f" ({count(unknown, 'reply')} without token counts)" if unknown else ""
        return f"US${cost:.4f} at list prices{missing}"
    return "cost unknown (the provider gave no token counts)" if unknown else "no price"


def annotate_silver(
    nlp: Language,
    units: Sequence[Unit],
    *,
    min_chars: int = 15,
    keep_empty: bool = False,
    limit: Optional[int] = None,
    report: Optional[SilverReport] = None,
    progress: Optional[Callable[[Iterable, int], Iterable]] = None,
) -> tuple[list[Doc], SilverReport]:
    """Label `units` with the LLM pipeline `nlp` and keep the silver docs worth training on.

    min_chars: units shorter than this (whitespace stripped) are dropped before any request; units longer than
        `nlp.max_length` too, as failed.
    keep_empty: keep units where the LLM found no entity (default: drop them, as seed 003 drops all-O sentences).
    limit: send at most this many units (after the length filter).
    report: the report to add to (e.g. with the notes read already counted); None: a new one.
    progress: wraps the stream of (doc, unit) pairs and their number, e.g. a progress bar; None: no wrapper.
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
    annotated = nlp.pipe(((unit.text, unit) for unit in sent), as_tuples=True)
    for doc, unit in progress(annotated, len(sent)) if progress else annotated:
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
    report.usage = usage_summary(rows, priced=model_settings(nlp)["prices"] is not None)
    return kept, report


def write_silver(docs: Sequence[Doc], report: SilverReport, output: Path, report_path: Optional[Path] = None) -> None:
    """Write the silver DocBin (user data kept) to `output` and, when given, the report as JSON to `report_path`.

    Raises OSError naming the file that could not be written.
    """
    from spacy.tokens import DocBin

    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        DocBin(store_user_data=True, docs=docs).to_disk(output)
        if report_path is not None:
            report_path.parent.mkdir(parents=True, exist_ok=True)
            report_path.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf8")
    except OSError as err:
        raise OSError(f"{err.filename or output}: could not be written ({err.strerror or type(err).__name__})") from None
