"""Gold assertion: what a corpus's own annotation says of an entity, as one of the component's assertions.

Corpora mark assertion in the attributes of their entities, which the converters keep
(`corpus.entity_attributes(doc)[span.id_]["attributes"]`):
- ER_NER (JSON spans): `{"Polaridade": "Negativa"}` -> "absent", `{"Polaridade": "Positiva"}` -> "present";
- BRAT attribute lines, read as `{"Negation": True}` (`A1 Negation T3`) or `{"Certainty": "Speculated"}`
  (`A2 Certainty T3 Speculated`): the names and values of `DEFAULT_ATTRIBUTE_MAP`, or a mapping of your own.
Names and string values are compared without regard to case. Where several attributes of one entity say
different things, the component's precedence decides (`component.PRECEDENCE`: family > absent > hypothetical >
possible > historical > present), so gold and prediction resolve a conflict alike.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from spacy.tokens import Doc

from ..corpus import entity_attributes
from .component import ASSERTIONS, PRECEDENCE

# Attribute name -> value -> assertion; `True` is a BRAT binary attribute (`A1 Negation T3`).
DEFAULT_ATTRIBUTE_MAP: dict[str, dict[Any, str]] = {
    "Polaridade": {"Negativa": "absent", "Positiva": "present"},  # ER_NER
    "Negation": {True: "absent", "Negated": "absent", "Affirmed": "present"},
    "Negated": {True: "absent"},
    "Negado": {True: "absent"},
    "Negação": {True: "absent"},
    "Certainty": {"Speculated": "possible", "Uncertain": "possible", "Possible": "possible", "Probable": "possible",
                  "Negative": "absent", "Positive": "present", "Certain": "present"},
    "Uncertainty": {True: "possible", "Speculated": "possible", "Uncertain": "possible"},
    "Speculation": {True: "possible"},
    "Incerto": {True: "possible"},
    "Historical": {True: "historical"},
    "Hypothetical": {True: "hypothetical"},
    "Temporality": {"Historical": "historical", "Hypothetical": "hypothetical", "Recent": "present"},
    "Experiencer": {"Family": "family", "Other": "family", "Patient": "present"},
    "Family": {True: "family"},
    "Assertion": {name: name for name in ASSERTIONS},
}
# The BRAT attribute `export` writes for each flag `clinical_context` sets on a prediction; each reads back
# through DEFAULT_ATTRIBUTE_MAP.
FLAG_ATTRIBUTES: dict[str, tuple[str, Any]] = {
    "is_negated": ("Negation", True),
    "is_uncertain": ("Certainty", "Speculated"),
    "is_historical": ("Historical", True),
    "is_hypothetical": ("Hypothetical", True),
    "is_family": ("Family", True),
}
# Which assertion wins when an entity's attributes disagree: the component's order.
ORDER = tuple(assertion for _, assertion in PRECEDENCE) + ("present",)


def gold_assertion(
    attributes: Mapping[str, Any], attribute_map: Mapping[str, Mapping[Any, str]] = DEFAULT_ATTRIBUTE_MAP
) -> Optional[str]:
    """The assertion an entity's source attributes give, or None when they say nothing about it.

    attributes: the entity's attributes as the converters keep them ({"Polaridade": "Negativa"}, {"Negation": True}).
    attribute_map: attribute name -> value -> assertion (names and string values matched without regard to case).
    """
    names = {name.casefold(): values for name, values in attribute_map.items()}
    found = []
    for name, value in attributes.items():
        values = names.get(name.casefold()) if isinstance(name, str) else None
        if values is None:
            continue
        key = value.casefold() if isinstance(value, str) else value
        for candidate, assertion in values.items():
            matched = candidate.casefold() == key if isinstance(candidate, str) else candidate is value
            if matched:
                found.append(assertion)
    if not found:
        return None
    return min(found, key=lambda a: ORDER.index(a) if a in ORDER else len(ORDER))


def gold_assertions(
    doc: Doc, spans_key: str = "sc", attribute_map: Mapping[str, Mapping[Any, str]] = DEFAULT_ATTRIBUTE_MAP
) -> dict[tuple[int, int, str], str]:
    """The gold assertion of each span of `doc.spans[spans_key]` whose source entity has one.

    doc: a gold doc built by `convert` (its source entities in user data, `span.id_` naming them).
    RETURNS: (start token, end token, label) -> assertion; spans without one are left out.
    """
    stored = entity_attributes(doc)
    found: dict[tuple[int, int, str], str] = {}
    for span in doc.spans.get(spans_key, []):
        source = stored.get(span.id_) if span.id_ else None
        if source is None or not isinstance(source.get("attributes"), Mapping):
            continue
        assertion = gold_assertion(source["attributes"], attribute_map)
        if assertion is not None:
            found[(span.start, span.end, span.label_)] = assertion
    return found
