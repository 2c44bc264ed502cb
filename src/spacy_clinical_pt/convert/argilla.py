"""Argilla exports (JSON list or JSONL) of span annotation datasets.

Three record layouts are read:
- Argilla 1.x token classification: `{"text", "annotation": [["LABEL", start, end], ...], "prediction": ...}`
  (annotation items may also be `{"label", "start", "end"}` objects);
- Argilla 2.x records (`dataset.records.to_json`): `{"id", "fields": {"text": ...},
  "responses": {QUESTION: [{"value": [{"start", "end", "label"}], "status", "user_id"}]}, "suggestions": ...}`;
- Argilla 2.x flattened records (`to_list(flatten=True)`): `{"text", "QUESTION.responses": [[{...}], ...]}`.

Only human annotations are read (1.x `annotation`, 2.x submitted `responses`); model `prediction`s and
`suggestions` are counted in the report's ignored lines, never mixed into the gold entities. When several
annotators submitted a response, the first one is used and the report notes how many were left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ..corpus import ConversionReport, Entity, Record
from .jsonspans import check_offsets, iter_json_objects, record_id

SUBMITTED = "submitted"


def read_argilla(
    path: Path,
    report: ConversionReport,
    *,
    encoding: str | None = None,
    text_field: str = "text",
    question: str | None = None,
) -> Iterator[Record]:
    """Records from an Argilla export.

    path: a `.json` list of records or a `.jsonl` file.
    encoding: the file's encoding; default UTF-8 with a cp1252/latin-1 fallback (reported).
    text_field: the field holding the document text (2.x `fields`), "text" by default.
    question: the span question whose responses are the entities (2.x); default: the only one found.
    """
    path = Path(path)
    for number, (where, obj) in enumerate(iter_json_objects(path, report, encoding), start=1):
        if not isinstance(obj, dict):
            report.error(where, f"expected a JSON object, found {type(obj).__name__}")
            continue
        fields = obj.get("fields") if isinstance(obj.get("fields"), dict) else obj
        text = fields.get(text_field)
        if not isinstance(text, str) or not text.strip():
            report.error(where, f"no text in field {text_field!r}")
            continue
        if "annotation" in obj or "prediction" in obj:
            spans = _v1_spans(where, obj, report)
        else:
            spans = _v2_spans(where, obj, question, report)
        if spans is None:
            continue
        entities = []
        for index, item in enumerate(spans, start=1):
            entity = _entity(f"{where} annotation {index}", item, report)
            if entity is not None:
                entities.append(entity)
        yield Record(record_id(obj, ("id", "external_id"), path, number), text, entities, where)


def _v1_spans(where: str, obj: dict[str, Any], report: ConversionReport) -> list[Any] | None:
    """Argilla 1.x: the `annotation` list (None after reporting a malformed one)."""
    if obj.get("prediction"):
        report.ignored_lines["argilla predictions"] += len(obj["prediction"])
    spans = obj.get("annotation") or []
    if not isinstance(spans, list):
        report.error(where, f"'annotation' must be a list, found {type(spans).__name__}")
        return None
    return spans


def _v2_spans(
    where: str, obj: dict[str, Any], question: str | None, report: ConversionReport
) -> list[Any] | None:
    """Argilla 2.x, nested or flattened: the first submitted response to the span question."""
    responses: dict[str, Any] = dict(obj.get("responses") or {})
    for key, values in obj.items():
        if key.endswith(".responses") and isinstance(values, list):
            # Flattened layout: the values and their statuses are parallel lists.
            statuses = obj.get(f"{key}.status") or [SUBMITTED] * len(values)
            responses[key[: -len(".responses")]] = [
                {"value": value, "status": status} for value, status in zip(values, statuses)
            ]
    suggestions = [k for k in obj.get("suggestions") or {}] + [k for k in obj if k.endswith(".suggestion")]
    if suggestions:
        report.ignored_lines["argilla suggestions"] += len(suggestions)
    if question is None:
        if len(responses) > 1:
            report.error(where, f"several questions ({', '.join(sorted(responses))}); choose one with `question`")
            return None
        question = next(iter(responses), None)
    if question is None or question not in responses:
        return []  # a record nobody annotated yet has no entities
    answers = responses[question]
    if not isinstance(answers, list):
        report.error(where, f"responses to {question!r} must be a list")
        return None
    if not all(isinstance(a, dict) for a in answers):
        report.error(where, f"responses to {question!r} must be objects with a 'value'")
        return None
    submitted = [a for a in answers if a.get("status", SUBMITTED) == SUBMITTED]
    if not submitted:
        return []
    if len(submitted) > 1:
        report.note(f"{where}: {len(submitted)} submitted responses to {question!r}; the first one is used")
    value = submitted[0].get("value")
    if value is None:
        return []
    if not isinstance(value, list):
        report.error(where, f"the response to {question!r} is not a list of spans")
        return None
    return value


def _entity(where: str, item: Any, report: ConversionReport) -> Entity | None:
    """A `[label, start, end(, score)]` list or a `{"label", "start", "end"}` object as an Entity."""
    if isinstance(item, list) and len(item) in (3, 4):
        label, start, end = item[:3]
    elif isinstance(item, dict):
        label, start, end = item.get("label"), item.get("start"), item.get("end")
    else:
        report.drop(where, "expected [label, start, end] or an object with label, start and end")
        return None
    offsets = check_offsets(where, start, end, report)
    if offsets is None:
        return None
    return Entity(offsets[0], offsets[1], label, origin=where)
