"""The hand-written assertion test set (tests/fixtures/assertion/) is well-formed: what the benchmark and the
scoring tests of `clinical_context` read is what its README says."""

import json
import re
from collections import Counter

import pytest
import spacy

from helpers import FIXTURES
from spacy_clinical_pt.context import ASSERTIONS
from spacy_clinical_pt.tokenizer import clinical_nlp

SET = FIXTURES / "assertion" / "sentences.jsonl"
README = FIXTURES / "assertion" / "README.md"
LABELS = {"Problema", "Tratamento", "Teste", "Anatomia"}
VARIANTS = ("pt-BR", "pt-PT")


@pytest.fixture(scope="module")
def sentences() -> list[dict]:
    with SET.open(encoding="utf8") as lines:
        return [json.loads(line) for line in lines]


def test_at_least_200_sentences_with_unique_ids_in_both_variants(sentences):
    ids = [sentence["id"] for sentence in sentences]
    assert len(sentences) >= 200
    assert len(set(ids)) == len(ids)
    assert {sentence["variant"] for sentence in sentences} == set(VARIANTS)
    assert all(set(sentence) == {"id", "variant", "text", "spans", "covers"} for sentence in sentences)
    assert all(sentence["covers"].strip() and sentence["spans"] for sentence in sentences)


def test_every_span_is_inside_its_text_and_not_padded(sentences):
    for sentence in sentences:
        text = sentence["text"]
        for span in sentence["spans"]:
            assert set(span) == {"start", "end", "label", "assertion"}, sentence["id"]
            assert 0 <= span["start"] < span["end"] <= len(text), sentence["id"]
            piece = text[span["start"] : span["end"]]
            assert piece.strip() == piece, (sentence["id"], piece)
        offsets = [(span["start"], span["end"]) for span in sentence["spans"]]
        assert len(set(offsets)) == len(offsets), sentence["id"]


def test_every_assertion_and_label_is_known(sentences):
    spans = [span for sentence in sentences for span in sentence["spans"]]
    assert {span["assertion"] for span in spans} == set(ASSERTIONS)
    assert {span["label"] for span in spans} <= LABELS


def test_every_category_has_at_least_25_spans(sentences):
    counts = Counter(span["assertion"] for sentence in sentences for span in sentence["spans"])
    assert min(counts[assertion] for assertion in ASSERTIONS) >= 25, counts


@pytest.mark.parametrize("make_nlp", [lambda: spacy.blank("pt"), clinical_nlp], ids=["blank", "clinical"])
def test_every_span_falls_on_token_boundaries(sentences, make_nlp):
    # A span off token boundaries could not be put in doc.spans to be scored.
    nlp = make_nlp()
    for sentence in sentences:
        doc = nlp.make_doc(sentence["text"])
        for span in sentence["spans"]:
            assert doc.char_span(span["start"], span["end"]) is not None, (sentence["id"], span)


def test_the_readme_says_it_is_hand_written_and_gives_the_counts_of_the_file(sentences):
    readme = README.read_text(encoding="utf8")
    assert readme.splitlines()[0].startswith("Hand-written for the tests")
    assert "no patient data" in readme.splitlines()[0]
    counts = Counter((span["assertion"], s["variant"]) for s in sentences for span in s["spans"])
    for assertion in ASSERTIONS:
        row = re.search(rf"^\| {assertion} \| (\d+) \| (\d+) \| (\d+) \|$", readme, re.M)
        assert row is not None, assertion
        br, pt = counts[assertion, "pt-BR"], counts[assertion, "pt-PT"]
        assert tuple(map(int, row.groups())) == (br, pt, br + pt), assertion
    assert f"holds {len(sentences)} Portuguese clinical sentences" in readme
