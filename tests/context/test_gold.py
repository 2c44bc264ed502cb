"""Gold assertion: a corpus's own attributes (ER_NER's Polaridade, BRAT attribute lines) as the component's
assertions."""

import pytest

from spacy_clinical_pt.context import ASSERTIONS
from spacy_clinical_pt.context.gold import DEFAULT_ATTRIBUTE_MAP, FLAG_ATTRIBUTES, gold_assertion, gold_assertions
from spacy_clinical_pt.corpus import ConversionReport, Entity, Record, build_docs
from spacy_clinical_pt.tokenizer import clinical_nlp


@pytest.mark.parametrize("attributes, expected", [
    ({"Polaridade": "Negativa"}, "absent"),
    ({"Polaridade": "positiva"}, "present"),  # values without regard to case
    ({"Negation": True}, "absent"),
    ({"negation": False}, None),  # not a BRAT flag: says nothing
    ({"certainty": "Speculated"}, "possible"),  # names without regard to case
    ({"Temporality": "Historical"}, "historical"),
    ({"Experiencer": "Family"}, "family"),
    ({"Assertion": "hypothetical"}, "hypothetical"),
    ({"Negation": True, "Family": True}, "family"),  # the component's precedence: family first
    ({"Negation": True, "Certainty": "Speculated"}, "absent"),
    ({"Polaridade": "Talvez"}, None),
    ({"Nota": "x", 3: "y"}, None),
    ({}, None),
])
def test_gold_assertion_of_attributes(attributes, expected):
    assert gold_assertion(attributes) == expected


def test_a_mapping_of_ones_own():
    mapping = {"Estado": {"Negado": "absent", "Suspeito": "possible"}}
    assert gold_assertion({"Estado": "suspeito"}, mapping) == "possible"
    assert gold_assertion({"Polaridade": "Negativa"}, mapping) is None


def test_every_mapped_value_is_an_assertion_and_every_flag_reads_back():
    assert {a for values in DEFAULT_ATTRIBUTE_MAP.values() for a in values.values()} <= set(ASSERTIONS)
    expected = {"is_negated": "absent", "is_uncertain": "possible", "is_historical": "historical",
                "is_hypothetical": "hypothetical", "is_family": "family"}
    assert {flag: gold_assertion(dict([attribute])) for flag, attribute in FLAG_ATTRIBUTES.items()} == expected


def test_gold_assertions_of_a_converted_doc_by_span():
    text = "Alergias: penicilina. Nega alergia a AINEs. Febre."
    entities = [Entity(10, 20, "Alergia", {"Polaridade": "Positiva"}), Entity(37, 42, "Alergia", {"Polaridade":
                "Negativa"}), Entity(44, 49, "Problema")]
    (doc,) = build_docs(clinical_nlp(), [Record("d1", text, entities)], ConversionReport())
    assert gold_assertions(doc) == {(2, 3, "Alergia"): "present", (7, 8, "Alergia"): "absent"}
    assert gold_assertions(doc, spans_key="other") == {}
    # a doc from elsewhere (no user data of ours) has no gold assertion
    doc.user_data.clear()
    assert gold_assertions(doc) == {}
