"""ConText rules in medspaCy's schema, sentence boundaries and section headers."""

import json

import pytest
import spacy

from spacy_clinical_pt.context import CATEGORIES, ContextRule, load_rules, write_rules
from spacy_clinical_pt.context.rules import DEFAULT_RULES_PATH
from spacy_clinical_pt.context.sections import find_sections, key_span
from spacy_clinical_pt.context.sentences import sentence_bounds
from spacy_clinical_pt.tokenizer import clinical_nlp

MEDSPACY_FILE = {
    "context_rules": [
        {"literal": "no evidence of", "category": "NEGATED_EXISTENCE", "direction": "FORWARD", "pattern": None,
         "metadata": {"comment": "a medspaCy rule"}},
        {"literal": "ruled out", "category": "DEFINITE_NEGATED_EXISTENCE", "direction": "backward", "max_scope": 5},
        {"literal": "but", "category": "CONJ", "direction": "TERMINATE"},
        {"literal": "positive for", "category": "POSSIBLE_EXISTENCE", "direction": "FORWARD",
         "pattern": [{"LOWER": "positive"}, {"LOWER": "for"}], "allowed_types": ["problem"],
         "terminated_by": ["NEGATED_EXISTENCE"], "max_targets": 2},
    ]
}


def write_json(path, data):
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_medspacy_rule_file_loads_with_its_categories_mapped(tmp_path):
    rules = load_rules(write_json(tmp_path / "context_rules.json", MEDSPACY_FILE))
    assert [(r.literal, r.category, r.direction) for r in rules] == [
        ("no evidence of", "NEGATED_EXISTENCE", "FORWARD"),
        ("ruled out", "NEGATED_EXISTENCE", "BACKWARD"),
        ("but", "TERMINATE", "TERMINATE"),
        ("positive for", "POSSIBLE_EXISTENCE", "FORWARD"),
    ]
    assert rules[1].max_scope == 5
    assert rules[3].allowed_types == frozenset({"PROBLEM"})
    assert rules[3].terminated_by == frozenset({"NEGATED_EXISTENCE"})
    assert rules[0].metadata == {"comment": "a medspaCy rule"}


def test_written_rules_read_back_equal(tmp_path):
    rules = load_rules(write_json(tmp_path / "in.json", MEDSPACY_FILE))
    write_rules(rules, tmp_path / "out.json")
    assert load_rules(tmp_path / "out.json") == rules
    assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["context_rules"][2] == {
        "literal": "but", "category": "TERMINATE", "direction": "TERMINATE"
    }


@pytest.mark.parametrize(
    "rule, message",
    [
        ({"literal": "nega", "category": "NEGATION_OF", "direction": "FORWARD"}, "rule 1: unknown category 'NEGATION_OF'"),
        ({"literal": "nega", "category": "NEGATED_EXISTENCE", "direction": "AHEAD"}, "rule 1: 'direction' must be one of"),
        ({"literal": "", "category": "FAMILY"}, "rule 1: 'literal' must be a non-empty string"),
        ({"literal": "nega", "category": "FAMILY", "scope": 3}, "rule 1: unknown keys ['scope']"),
        ({"literal": "nega", "category": "FAMILY", "max_scope": 0}, "rule 1: 'max_scope' must be a positive integer"),
        ({"literal": "nega", "category": "FAMILY", "pattern": "nega"}, "rule 1: 'pattern' must be a list"),
        ("nega", "rule 1: a rule must be a JSON object, not str"),
    ],
)
def test_a_bad_rule_names_the_file_and_the_rule_index(tmp_path, rule, message):
    good = {"literal": "sem", "category": "NEGATED_EXISTENCE", "direction": "FORWARD"}
    path = write_json(tmp_path / "bad.json", {"context_rules": [good, rule]})
    with pytest.raises(ValueError) as err:
        load_rules(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_a_file_that_is_not_a_rule_file_is_a_clear_error(tmp_path):
    (tmp_path / "broken.json").write_text('{"context_rules": [', encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.json: not valid JSON \(line 1, column 20\)"):
        load_rules(tmp_path / "broken.json")
    with pytest.raises(ValueError, match=r"list\.json: a rule file is a JSON object with the list 'context_rules'"):
        load_rules(write_json(tmp_path / "list.json", [{"literal": "sem"}]))
    with pytest.raises(ValueError, match=r"missing\.json: cannot read the rule file \(FileNotFoundError\)"):
        load_rules(tmp_path / "missing.json")


def test_the_default_rules_cover_every_category_in_both_directions():
    rules = load_rules("default")
    assert load_rules(DEFAULT_RULES_PATH) == rules
    assert {r.category for r in rules} == set(CATEGORIES)
    negation = {(r.literal, r.direction) for r in rules if r.category == "NEGATED_EXISTENCE"}
    assert {("nega", "FORWARD"), ("ausência de", "FORWARD"), ("ausente", "BACKWARD"), ("negativo", "BACKWARD")} <= negation
    assert {r.literal for r in rules if r.direction == "TERMINATE" and r.category == "TERMINATE"} >= {
        "mas", "porém", "contudo", "exceto", ";"
    }


def test_a_rule_is_a_value():
    rule = ContextRule("sem", "NEGATED_EXISTENCE", "FORWARD")
    assert rule.to_dict() == {"literal": "sem", "category": "NEGATED_EXISTENCE", "direction": "FORWARD"}
    assert rule == ContextRule("sem", "NEGATED_EXISTENCE", "FORWARD")


@pytest.mark.parametrize("make_nlp", [lambda: spacy.blank("pt"), clinical_nlp], ids=["blank", "clinical"])
def test_sentences_end_at_line_breaks_and_stops_but_not_after_abbreviations(make_nlp):
    text = "Dr. Silva viu a Sra. Maria. Tomou 1.5 mg. de AAS, p.ex. hoje; nega febre\r\n- Enalapril 20 mg. Nega tosse? Sim!"
    doc = make_nlp()(text)
    sentences = [doc[s:e].text.strip() for s, e in sentence_bounds(doc)]
    assert sentences == [
        "Dr. Silva viu a Sra. Maria.",
        "Tomou 1.5 mg. de AAS, p.ex. hoje;",
        "nega febre",
        "- Enalapril 20 mg.",
        "Nega tosse?",
        "Sim!",
    ]


def test_section_headers_set_categories_until_the_next_header():
    doc = spacy.blank("pt")("ANTECEDENTES FAMILIARES: mãe com DM.\nHistória pregressa: IAM.\nEXAME FÍSICO: bom.\nPA: 12x8")
    found = [(doc[s.header_start : s.header_end].text, s.category, doc[s.header_end + 1 : s.end].text.strip()) for s in find_sections(doc)]
    assert found == [
        ("ANTECEDENTES FAMILIARES", "FAMILY", "mãe com DM."),
        ("História pregressa", "HISTORICAL", "IAM."),
        ("EXAME FÍSICO", None, "bom."),
        ("PA", None, "12x8"),
    ]


def test_a_lower_case_unknown_key_is_not_a_header():
    doc = spacy.blank("pt")("Refere que a dor: piorou.\nfebre: nega")
    assert find_sections(doc) == []


def test_the_key_of_a_key_value_line_ends_at_a_comma_and_needs_a_value_that_is_only_the_cue():
    doc = spacy.blank("pt")("Refere dor, alergia a dipirona: nega. Ausculta: sem sopros")
    sentence = (0, 9)
    assert doc[slice(*key_span(doc, 7, 8, sentence))].text == "alergia a dipirona"
    assert key_span(doc, 12, 13, (9, 14)) is None  # "sem sopros": the value is not only the cue


def test_fold_text_folds_one_character_for_one_and_keeps_the_others():
    # Offsets into the folded text are offsets into the text; a character past the table (Greek) is kept as it is.
    from spacy_clinical_pt.context.cues import fold_text

    text = "AUSÊNCIA de Febre; Ǆ Σ İ"
    assert fold_text(text) == "ausencia de febre; ǆ Σ i"
    assert len(fold_text(text)) == len(text)


def test_a_shape_dddd_pattern_matches_four_digits_without_the_matcher():
    from spacy_clinical_pt.context.cues import CueMatcher

    nlp = spacy.blank("pt")
    rule = ContextRule(
        literal="em 2019", category="HISTORICAL", pattern=[{"LOWER": "em"}, {"SHAPE": "dddd"}], max_scope=3
    )
    matcher = CueMatcher(nlp.vocab, [rule])
    doc = nlp("Apendicectomia em 2019, retorno em 15 dias e em 20190.")
    cues = matcher(doc, [(0, len(doc))], [0] * len(doc))
    assert len(matcher._patterns) == 0  # a word sequence, not a Matcher pattern
    assert [(doc[c.start : c.end].text, c.scopes) for c in cues] == [("em 2019", [(0, 6)])]
