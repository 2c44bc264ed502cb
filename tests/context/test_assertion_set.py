"""The hand-written assertion test sets (tests/fixtures/assertion/) are well-formed: what the benchmark and the
scoring tests of `clinical_context` read is what their README says. Three sets: `sentences.jsonl` (the first one,
since used to guide the rules), `heldout2.jsonl` (the second, written later without looking at the rules, since
used too) and `heldout3.jsonl` (the third, written after both without looking at the rules or the other sets)."""

import json
import re
from collections import Counter
from dataclasses import dataclass

import pytest
import spacy

from helpers import FIXTURES
from spacy_clinical_pt.context import ASSERTIONS
from spacy_clinical_pt.tokenizer import clinical_nlp

README = FIXTURES / "assertion" / "README.md"
# The README's headings of the later sets' sections, in order: the first set's section is what comes before them.
HEADINGS = ("# The second held-out set", "# The third held-out set")
LABELS = {"Problema", "Tratamento", "Teste", "Anatomia"}
VARIANTS = ("pt-BR", "pt-PT")


@dataclass(frozen=True)
class AssertionSet:
    """One hand-written set and what its README promises of it."""

    name: str  # the file under tests/fixtures/assertion/
    min_sentences: int
    min_spans_per_category: int
    id_pattern: str  # a full match of every id; its group is `br` or `pt`, the variant's tag
    section: int  # the README's section that describes it: 0 the first, n the one under HEADINGS[n - 1]


SETS = [
    AssertionSet("sentences.jsonl", 200, 25, r"(br|pt)-[a-z]+-\d+", section=0),
    AssertionSet("heldout2.jsonl", 150, 20, r"h2-(br|pt)-\d{3}", section=1),
    AssertionSet("heldout3.jsonl", 150, 20, r"h3-(br|pt)-\d{3}", section=2),
]


@pytest.fixture(scope="module", params=SETS, ids=[s.name for s in SETS])
def assertion_set(request) -> tuple[AssertionSet, list[dict]]:
    with (FIXTURES / "assertion" / request.param.name).open(encoding="utf8") as lines:
        return request.param, [json.loads(line) for line in lines]


def readme_section(index: int) -> str:
    """The README's section number `index`: 0 everything before HEADINGS[0], n from HEADINGS[n - 1] to the next."""
    sections = [README.read_text(encoding="utf8")]
    for heading in HEADINGS:
        before, found, after = sections[-1].partition(f"\n{heading}\n")
        assert found, f"README has no '{heading}' section"
        sections[-1:] = [before, after]
    return sections[index]


def test_enough_sentences_with_unique_ids_in_both_variants(assertion_set):
    spec, sentences = assertion_set
    ids = [sentence["id"] for sentence in sentences]
    assert len(sentences) >= spec.min_sentences
    assert len(set(ids)) == len(ids)
    assert {sentence["variant"] for sentence in sentences} == set(VARIANTS)
    assert all(set(sentence) == {"id", "variant", "text", "spans", "covers"} for sentence in sentences)
    assert all(sentence["covers"].strip() and sentence["spans"] for sentence in sentences)


def test_every_id_names_its_variant(assertion_set):
    spec, sentences = assertion_set
    for sentence in sentences:
        match = re.fullmatch(spec.id_pattern, sentence["id"])
        assert match is not None, sentence["id"]
        assert {"br": "pt-BR", "pt": "pt-PT"}[match.group(1)] == sentence["variant"], sentence["id"]


def test_every_span_is_inside_its_text_and_not_padded(assertion_set):
    _, sentences = assertion_set
    for sentence in sentences:
        text = sentence["text"]
        for span in sentence["spans"]:
            assert set(span) == {"start", "end", "label", "assertion"}, sentence["id"]
            assert 0 <= span["start"] < span["end"] <= len(text), sentence["id"]
            piece = text[span["start"] : span["end"]]
            assert piece.strip() == piece, (sentence["id"], piece)
        offsets = [(span["start"], span["end"]) for span in sentence["spans"]]
        assert len(set(offsets)) == len(offsets), sentence["id"]


def test_every_assertion_and_label_is_known(assertion_set):
    _, sentences = assertion_set
    spans = [span for sentence in sentences for span in sentence["spans"]]
    assert {span["assertion"] for span in spans} == set(ASSERTIONS)
    assert {span["label"] for span in spans} <= LABELS


def test_every_category_has_enough_spans(assertion_set):
    spec, sentences = assertion_set
    counts = Counter(span["assertion"] for sentence in sentences for span in sentence["spans"])
    assert min(counts[assertion] for assertion in ASSERTIONS) >= spec.min_spans_per_category, counts


@pytest.mark.parametrize("make_nlp", [lambda: spacy.blank("pt"), clinical_nlp], ids=["blank", "clinical"])
def test_every_span_falls_on_token_boundaries(assertion_set, make_nlp):
    # A span off token boundaries could not be put in doc.spans to be scored.
    _, sentences = assertion_set
    nlp = make_nlp()
    for sentence in sentences:
        doc = nlp.make_doc(sentence["text"])
        for span in sentence["spans"]:
            assert doc.char_span(span["start"], span["end"]) is not None, (sentence["id"], span)


def test_the_readme_says_it_is_hand_written_and_gives_the_counts_of_the_file(assertion_set):
    spec, sentences = assertion_set
    first_line = README.read_text(encoding="utf8").splitlines()[0]
    assert first_line.startswith("Hand-written for the tests")
    assert "no patient data" in first_line
    section = readme_section(spec.section)
    counts = Counter((span["assertion"], s["variant"]) for s in sentences for span in s["spans"])
    for assertion in ASSERTIONS:
        row = re.search(rf"^\| {assertion} \| (\d+) \| (\d+) \| (\d+) \|$", section, re.M)
        assert row is not None, assertion
        br, pt = counts[assertion, "pt-BR"], counts[assertion, "pt-PT"]
        assert tuple(map(int, row.groups())) == (br, pt, br + pt), assertion
    assert f"holds {len(sentences)} Portuguese clinical sentences" in section
