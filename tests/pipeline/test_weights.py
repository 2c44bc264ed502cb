"""Class weights against hand-computed examples, and the warnings that keep the paper's collapse visible."""

import math
import warnings

import pytest
import spacy
from spacy.tokens import Span

from spacy_clinical_pt.weights import ClassWeightWarning, class_weights


def make_docs(annotations):
    """Docs of 5 tokens each, with (start, end, label) spans in doc.spans["sc"]."""
    nlp = spacy.blank("pt")
    docs = []
    for spans in annotations:
        doc = nlp.make_doc("um dois tres quatro cinco")
        doc.spans["sc"] = [Span(doc, s, e, label=label) for s, e, label in spans]
        docs.append(doc)
    return docs


# 4 documents of 5 tokens (20 tokens): Problema in 3 docs (7 tokens), Anatomia in 1 doc (2 tokens).
DOCS = [
    [(0, 3, "Problema"), (1, 3, "Anatomia")],
    [(0, 2, "Problema")],
    [(4, 5, "Problema"), (0, 1, "Problema")],
    [],
]
LABELS = ["Problema", "Anatomia"]


def test_inverse_doc_freq_is_docs_without_over_docs_with():
    with pytest.warns(ClassWeightWarning, match="I-Problema is 0.333 < 1"):
        weights = class_weights(make_docs(DOCS), LABELS, "IO", "inverse_doc_freq")
    assert weights == {"I-Problema": pytest.approx(1 / 3), "I-Anatomia": pytest.approx(3 / 1)}


def test_clamped_variant_never_goes_below_one_and_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClassWeightWarning)
        weights = class_weights(make_docs(DOCS), LABELS, "IO", "inverse_doc_freq_clamped")
    assert weights == {"I-Problema": 1.0, "I-Anatomia": pytest.approx(3.0)}


def test_bio_columns_are_counted_separately():
    weights = class_weights(make_docs(DOCS), LABELS, "BIO", "inverse_doc_freq_clamped")
    # B-Problema in 3 docs -> 1/3 clamped to 1; I-Problema in docs 1 and 2 -> 2/2 = 1; B- and I-Anatomia in 1 doc.
    assert weights == {"B-Problema": 1.0, "I-Problema": 1.0, "B-Anatomia": 3.0, "I-Anatomia": 3.0}


def test_inverse_token_freq_is_square_root_damped():
    weights = class_weights(make_docs(DOCS), LABELS, "IO", "inverse_token_freq")
    assert weights["I-Problema"] == pytest.approx(math.sqrt(13 / 7))
    assert weights["I-Anatomia"] == pytest.approx(math.sqrt(18 / 2))


def test_label_in_every_document_gives_zero_and_a_warning_without_dividing_by_zero():
    docs = make_docs([[(0, 1, "Problema")], [(2, 3, "Problema")]])
    with pytest.warns(ClassWeightWarning) as record:
        weights = class_weights(docs, LABELS, "IO", "inverse_doc_freq")
    assert weights == {"I-Problema": 0.0, "I-Anatomia": 1.0}
    messages = " ".join(str(w.message) for w in record)
    assert "I-Problema is 0" in messages and "I-Anatomia: no training documents hold it" in messages


def test_none_and_unknown_method():
    assert class_weights(make_docs(DOCS), LABELS, "IO", "none") == {"I-Problema": 1.0, "I-Anatomia": 1.0}
    with pytest.raises(ValueError, match="unknown class_weighting 'focal'"):
        class_weights(make_docs(DOCS), LABELS, "IO", "focal")


def test_empty_training_set_is_a_clear_error():
    with pytest.raises(ValueError, match="empty training set"):
        class_weights([], LABELS, "IO", "inverse_doc_freq")
