"""The few-shot example of the clinical NER task: an inline one checked, or one note of a training DocBin with its
gold entities (`task.make_clinical_ner_task`'s `example`, `example_path`, `example_id`, `example_select`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from spacy.tokens import Doc

from ..convert.docbin import load_docs
from ..corpus import doc_id

EXAMPLE_SELECTIONS = ("shortest_with_all_labels", "first")


def is_entity_item(entry: Any) -> bool:
    """Whether a reply or example item is `{"label": str, "text": str}` with a non-blank text."""
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("label"), str)
        and isinstance(entry.get("text"), str)
        and bool(entry["text"].strip())
    )


def checked_example(example: Dict[str, Any]) -> Dict[str, Any]:
    """An inline few-shot example, checked: `{"text": str, "entities": [{"label": str, "text": str}, ...]}`."""
    if not isinstance(example, dict) or not isinstance(example.get("text"), str) or not example["text"].strip():
        raise ValueError('example must be a dict with a non-empty "text" and a list of "entities"')
    entities = example.get("entities")
    if not isinstance(entities, list):
        raise ValueError('example["entities"] must be a list of {"label": ..., "text": ...}')
    for number, entity in enumerate(entities):
        if not is_entity_item(entity):
            raise ValueError(f'example["entities"][{number}] must be {{"label": str, "text": str}}, text not blank')
    return {"text": example["text"], "entities": [{"label": e["label"], "text": e["text"]} for e in entities]}


def example_from_docbin(
    path: Path, labels: Sequence[str], example_id: Optional[str], select: str, gold_key: str
) -> Dict[str, Any]:
    """The few-shot example drawn from a training DocBin: by document id, else by the `select` rule.

    path: the `.spacy` file. labels: the task's labels. example_id: a document id, or None to use `select`.
    select: "shortest_with_all_labels" or "first". gold_key: the `doc.spans` key of the gold entities.
    """
    if select not in EXAMPLE_SELECTIONS:
        raise ValueError(f"example_select must be one of {', '.join(EXAMPLE_SELECTIONS)}, not {select!r}")
    docs = load_docs(path)
    if not docs:
        raise ValueError(f"{path}: holds no document to draw a few-shot example from")
    if example_id is not None:
        chosen = next((doc for doc in docs if doc_id(doc) == example_id), None)
        if chosen is None:
            raise ValueError(f"{path}: no document with id {example_id!r} (among {len(docs)} documents)")
    elif select == "first":
        chosen = docs[0]
    else:
        wanted = set(labels)
        complete = [doc for doc in docs if wanted <= {span.label_ for span in doc.spans.get(gold_key, [])}]
        if not complete:
            raise ValueError(
                f"{path}: no document holds every label ({', '.join(labels)}) in doc.spans[{gold_key!r}]; "
                "choose one with example_id or use example_select = \"first\""
            )
        chosen = min(complete, key=lambda doc: len(doc.text))  # min keeps the first on ties
    return example_from_doc(chosen, labels, gold_key)


def example_from_doc(doc: Doc, labels: Sequence[str], gold_key: str) -> Dict[str, Any]:
    """A doc as a few-shot example: its text and its gold entities of `labels` in order of appearance.

    Order: by start, then longer first (a nesting entity before the one inside it), then label. Entities of
    other labels are left out so the example never shows the model a label it is not asked for.
    """
    spans = [span for span in doc.spans.get(gold_key, []) if span.label_ in labels]
    spans.sort(key=lambda span: (span.start_char, -span.end_char, span.label_))
    return {"text": doc.text, "entities": [{"label": span.label_, "text": span.text} for span in spans]}

