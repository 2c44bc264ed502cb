"""Argilla exports (JSON list or JSONL) of span annotation datasets.

Three record layouts are read:
- Argilla 1.x token classification: `{"text", "annotation": [["LABEL", start, end], ...], "prediction": ...}`
  (annotation items may also be `{"label", "start", "end"}` objects);
- Argilla 2.x records (`dataset.records.to_json`): `{"id", "fields": {"text": ...},
  "responses": {QUESTION: [{"value": [{"start", "end", "label"}], "status", "user_id"}]}, "suggestions": ...}`;
- Argilla 2.x flattened records (`to_list(flatten=True)`): `{"text", "QUESTION.responses": [[{...}], ...],
  "QUESTION.responses.status": [...]}`, with the record's fields and metadata at the top level too.

A record is 2.x when it has `fields`, `responses` or `suggestions`, or a `QUESTION.responses` /
`QUESTION.suggestion` key, else 1.x: a flattened 2.x record may hold a metadata field named `prediction` or
`annotation`, which does not make it 1.x. A 2.x record whose `annotation` also holds 1.x spans is ambiguous:
the responses are read and the spans are dropped (reported; strict mode raises).

Only human annotations are read (1.x `annotation`, 2.x submitted `responses`); model `prediction`s and
`suggestions`, responses not submitted (drafts, discarded) and responses to other questions are counted in the
report's ignored lines, never mixed into the gold entities. When several annotators submitted a response,
the first one is used and the report notes how many were left out. Every field is type-checked: a value of
the wrong type is an error for its record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator

from ..corpus import ConversionReport, Entity, Record, excerpt
from .jsonspans import (
    UnreadFields,
    annotation_entities,
    check_offsets,
    iter_json_objects,
    record_id,
    record_text,
    unread_spans,
)

SUBMITTED = "submitted"
ID_KEYS = ("id", "external_id")
V2_KEYS = ("fields", "responses", "suggestions")
V2_SUFFIXES = (".responses", ".responses.users", ".responses.status", ".suggestion", ".suggestion.score",
               ".suggestion.agent")  # fmt: skip
# Record fields that are known and hold no entity: read by nobody, noted by nobody.
V1_FIELDS = frozenset(("tokens", "annotation_agent", "prediction_agent", "status", "metadata", "metrics",
                       "event_timestamp", "last_updated", "search_keywords", "multi_label", "explanation",
                       "vectors"))  # fmt: skip
V2_FIELDS = frozenset(("_server_id", "status", "metadata", "vectors", "inserted_at", "updated_at"))


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
    unread = UnreadFields(path)
    for number, (where, obj) in enumerate(iter_json_objects(path, report, encoding), start=1):
        if not isinstance(obj, dict):
            report.error(where, f"expected a JSON object, found {type(obj).__name__}")
            continue
        v2 = any(key in obj for key in V2_KEYS) or any(key.endswith(V2_SUFFIXES) for key in obj)
        if v2 and "fields" in obj and not isinstance(obj["fields"], dict):
            report.error(where, f"'fields' must be an object, found {type(obj['fields']).__name__}")
            continue
        text = record_text(where, obj.get("fields", obj) if v2 else obj, text_field, report)
        if text is None:
            continue
        read = {text_field, *ID_KEYS, *(V2_KEYS if v2 else ("annotation", "prediction"))}
        if v2:
            spans = _v2_spans(where, obj, question, report)
            read |= {key for key in obj if key.endswith(V2_SUFFIXES)} | V2_FIELDS
            if obj.get("annotation") not in (None, "", [], {}):  # 1.x spans, or what a 1.x reader would take as such
                read.add("annotation")
                _unread_v1_annotation(where, obj["annotation"], report)
        else:
            spans = _v1_spans(where, obj, report)
            read |= V1_FIELDS
        if spans is None:
            continue
        if isinstance(obj.get("prediction"), list):
            read.add("prediction")
            report.ignored_lines["argilla predictions"] += len(obj["prediction"])
        else:
            read.discard("prediction")  # a 2.x metadata field, or not a list: noted as not read
        span_keys = unread.add(where, obj, read)
        if span_keys and not unread_spans(where, ("responses",) if v2 else ("annotation",), span_keys, bool(spans), report):
            continue
        entities = annotation_entities(where, spans, _entity, report)
        yield Record(record_id(where, obj, ID_KEYS, path, number, report), text, entities, where)
    unread.note(report)


def _unread_v1_annotation(where: str, annotation: Any, report: ConversionReport) -> None:
    """Drop (strict mode: raise) the 1.x `annotation` of a 2.x record, one report entry per item."""
    problem = "'annotation' (Argilla 1.x) beside the 2.x responses is not read; only the responses are"
    if not isinstance(annotation, list):
        report.drop(where, problem)
        return
    for index, _ in enumerate(annotation, start=1):
        report.drop(f"{where} 'annotation' item {index}", problem)


def _v1_spans(where: str, obj: dict[str, Any], report: ConversionReport) -> list[Any] | None:
    """Argilla 1.x: the `annotation` list (None after reporting a malformed one)."""
    spans = obj.get("annotation")
    return _span_list(where, spans, f"'annotation' must be a list, found {type(spans).__name__}", report)


def _span_list(where: str, spans: Any, problem: str, report: ConversionReport) -> list[Any] | None:
    """`spans` when a list, [] when absent (None); else None after reporting `problem` as the record's error."""
    if spans is None:
        return []
    if not isinstance(spans, list):
        report.error(where, problem)
        return None
    return spans


def _v2_spans(
    where: str, obj: dict[str, Any], question: str | None, report: ConversionReport
) -> list[Any] | None:
    """Argilla 2.x, nested or flattened: the first submitted response to the span question."""
    responses = _responses(where, obj, report)
    if responses is None:
        return None
    suggestions = obj.get("suggestions")
    if suggestions is None:
        suggestions = {}
    if not isinstance(suggestions, (dict, list)):
        report.error(where, f"'suggestions' must be an object, found {type(suggestions).__name__}")
        return None
    count = len(suggestions) + sum(k.endswith(".suggestion") and v is not None for k, v in obj.items())
    if count:
        report.ignored_lines["argilla suggestions"] += count
    if question is None:
        if len(responses) > 1:
            names = excerpt(", ".join(sorted(responses)))
            report.error(where, f"several questions ({names}); choose one with `question`")
            return None
        question = next(iter(responses), None)
    others = sum(len(answers) for name, answers in responses.items() if name != question)
    if others:
        report.ignored_lines["argilla responses to other questions"] += others
    if question is None or question not in responses:
        return []  # a record nobody annotated yet has no entities
    answers = responses[question]
    submitted = [answer for answer in answers if answer.get("status", SUBMITTED) == SUBMITTED]
    if len(submitted) < len(answers):
        report.ignored_lines["argilla responses not submitted"] += len(answers) - len(submitted)
    if not submitted:
        return []
    if len(submitted) > 1:
        report.note(f"{where}: {len(submitted)} submitted responses to '{excerpt(question)}'; the first one is used")
    problem = f"the response to '{excerpt(question)}' is not a list of spans"
    return _span_list(where, submitted[0].get("value"), problem, report)


def _responses(where: str, obj: dict[str, Any], report: ConversionReport) -> dict[str, list[dict]] | None:
    """Question -> its responses (objects with a `value` and a `status`), nested and flattened layouts
    together; None after reporting a malformed one."""
    nested = obj.get("responses")
    if nested is None:
        nested = {}
    if not isinstance(nested, dict):
        report.error(where, f"'responses' must be an object (question -> responses), found {type(nested).__name__}")
        return None
    responses = dict(nested)
    for key, values in obj.items():
        if not key.endswith(".responses") or values is None:
            continue
        if not isinstance(values, list):
            report.error(where, f"'{excerpt(key)}' must be a list of responses, found {type(values).__name__}")
            return None
        statuses = _flat_statuses(where, f"{key}.status", obj.get(f"{key}.status"), len(values), report)
        if statuses is None:
            return None
        # Flattened layout: the values and their statuses are parallel lists.
        responses[key[: -len(".responses")]] = [{"value": v, "status": s} for v, s in zip(values, statuses)]
    for name, answers in responses.items():
        if not isinstance(answers, list) or not all(isinstance(answer, dict) for answer in answers):
            report.error(where, f"responses to '{excerpt(name)}' must be a list of objects with a 'value'")
            return None
        statuses = (answer.get("status", SUBMITTED) for answer in answers)
        if not _all_strings(where, f"responses to '{excerpt(name)}'", statuses, report):
            return None
    return responses


def _flat_statuses(where: str, key: str, value: Any, responses: int, report: ConversionReport) -> list[Any] | None:
    """The statuses of `responses` flattened responses: all submitted when absent, one string for all."""
    if value is None:
        return [SUBMITTED] * responses
    if isinstance(value, str):
        return [value] * responses  # one status flattened to a string: read as the status of each response
    if not isinstance(value, list):
        report.error(where, f"'{excerpt(key)}' must be a list of statuses, found {type(value).__name__}")
        return None
    if len(value) != responses:
        report.error(where, f"'{excerpt(key)}': {responses} response(s) but {len(value)} status(es)")
        return None
    if not _all_strings(where, f"'{excerpt(key)}'", value, report):
        return None
    return value


def _all_strings(where: str, name: str, statuses: Iterable[Any], report: ConversionReport) -> bool:
    """Whether every status is a string; False after reporting the record as an error naming `name`."""
    if all(isinstance(status, str) for status in statuses):
        return True
    report.error(where, f"{name}: statuses must be strings")
    return False


def _entity(where: str, item: Any, report: ConversionReport) -> Entity | None:
    """A `[label, start, end(, score)]` list or a `{"label", "start", "end", ...}` object as an Entity.

    A score and an object's other fields are kept as attributes.
    """
    if isinstance(item, list) and len(item) in (3, 4):
        label, start, end = item[:3]
        attributes = {"score": item[3]} if len(item) == 4 else {}
    elif isinstance(item, dict):
        label, start, end = item.get("label"), item.get("start"), item.get("end")
        attributes = {k: v for k, v in item.items() if k not in ("label", "start", "end")}
    else:
        report.drop(where, "expected [label, start, end] or an object with label, start and end")
        return None
    offsets = check_offsets(where, start, end, report)
    if offsets is None:
        return None
    return Entity(offsets[0], offsets[1], label, attributes, origin=where)
