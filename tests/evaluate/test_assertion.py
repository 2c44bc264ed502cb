"""evaluate's `assertion` section: the pipeline's clinical_context scored on gold spans and end to end."""

import json

import spacy_clinical_pt.context  # noqa: F401  the clinical_context factory, before the entry point is installed
from spacy_clinical_pt.corpus import ConversionReport, Entity, Record, build_docs
from spacy_clinical_pt.evaluate import evaluate_pipeline, render_report
from spacy_clinical_pt.evaluate.assertion import classification_scores, end_to_end_scores
from spacy_clinical_pt.tokenizer import clinical_nlp

# Hand-written notes (no patient data). Gold: ER_NER's `Polaridade` on the allergies; "febre" has none.
TEXTS = [
    "Alergias: penicilina. Nega alergia a AINEs.",
    "Sem alergia a dipirona. Refere febre.",
    "Alergia a iodo e contraste: a esclarecer.",
]


def entity(text, word, label="Alergia", polarity=None):
    start = text.index(word)
    return Entity(start, start + len(word), label, {"Polaridade": polarity} if polarity else {})


def gold_docs(with_polarity=True):
    def polarity(value):
        return value if with_polarity else None

    records = [
        Record("d1", TEXTS[0], [entity(TEXTS[0], "penicilina", polarity=polarity("Positiva")),
                                entity(TEXTS[0], "AINEs", polarity=polarity("Negativa"))]),
        Record("d2", TEXTS[1], [entity(TEXTS[1], "dipirona", polarity=polarity("Negativa")),
                                entity(TEXTS[1], "febre", "Problema")]),
        Record("d3", TEXTS[2], [entity(TEXTS[2], "iodo", polarity=polarity("Positiva"))]),
    ]
    return list(build_docs(clinical_nlp(), records, ConversionReport()))


def ruler_pipeline(context=True):
    """Entities by rule: misses "dipirona", adds "contraste" (not gold); then clinical_context."""
    nlp = clinical_nlp()
    ruler = nlp.add_pipe("span_ruler", config={"spans_key": "sc"})
    ruler.add_patterns([{"label": "Alergia", "pattern": word} for word in ("penicilina", "AINEs", "iodo", "contraste")]
                       + [{"label": "Problema", "pattern": "febre"}])
    if context:
        nlp.add_pipe("clinical_context")
    return nlp


def test_assertion_is_scored_on_gold_spans_and_end_to_end():
    section = evaluate_pipeline(ruler_pipeline(), gold_docs()).metrics["assertion"]
    assert section["component"] == "clinical_context"
    assert section["scope"]["labels"] == ["Alergia"] and section["scope"]["gold_spans"] == 4
    gold = section["on_gold_spans"]
    # "dipirona", which the ruler misses, is scored here: the component is given the gold spans. "a esclarecer"
    # makes "iodo" possible where the gold says Positiva.
    assert (gold["n"], gold["accuracy"]) == (4, 0.75)
    assert gold["per_class"]["present"] == {"precision": 1.0, "recall": 0.5, "f1": 0.666667, "support": 2}
    assert gold["per_class"]["absent"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert gold["confusion"]["labels"] == ["present", "absent", "possible"]
    assert gold["confusion"]["matrix"] == [[1, 0, 1], [0, 2, 0], [0, 0, 0]]
    # end to end: penicilina and AINEs right; iodo wrong assertion, contraste not gold (FP); dipirona missed (FN)
    assert section["end_to_end"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "tp": 2, "fp": 2, "fn": 2,
                                     "span_and_label_right": 3}


def test_every_other_key_and_value_of_metrics_is_unchanged():
    docs = gold_docs()
    with_context = evaluate_pipeline(ruler_pipeline(), docs).metrics
    without = evaluate_pipeline(ruler_pipeline(context=False), docs).metrics
    assert "assertion" not in without
    with_context.pop("assertion")
    assert json.dumps(with_context, sort_keys=True) == json.dumps(without, sort_keys=True)


def test_no_section_without_gold_assertion():
    assert "assertion" not in evaluate_pipeline(ruler_pipeline(), gold_docs(with_polarity=False)).metrics


def test_the_tagger_path_scores_assertion_on_its_decoded_spans(tmp_path):
    from helpers.pipelines import untrained_pipeline

    import spacy

    nlp = spacy.load(untrained_pipeline(tmp_path))
    nlp.add_pipe("clinical_context")
    evaluation = evaluate_pipeline(nlp, gold_docs(), policy="fixed")
    section = evaluation.metrics["assertion"]
    assert (section["on_gold_spans"]["n"], section["on_gold_spans"]["accuracy"]) == (4, 0.75)
    end = section["end_to_end"]
    predicted = sum(1 for spans in evaluation.predicted for span in spans if span[2] == "Alergia")
    assert end["tp"] + end["fp"] == predicted and end["tp"] + end["fn"] == 4


def test_report_has_an_assertion_section():
    metrics = evaluate_pipeline(ruler_pipeline(), gold_docs()).metrics
    report = render_report(metrics)
    assert "## Assertion (`clinical_context`)" in report
    assert "accuracy 0.7500 on 4 spans" in report
    assert "| gold / predicted | present | absent | possible |" in report
    assert "| present | 1 | 0 | 1 |" in report
    assert "micro P 0.5000, R 0.5000, F1 0.5000 (TP 2, FP 2, FN 2; 3 predicted spans" in report
    metrics.pop("assertion")
    assert "## Assertion" not in render_report(metrics)


def test_scores_by_hand():
    scores = classification_scores(["absent", "absent", "present"], ["absent", "present", "present"])
    assert scores["accuracy"] == 0.666667 and scores["per_class"]["absent"]["recall"] == 0.5
    assert classification_scores([], [])["accuracy"] is None
    gold = [{(0, 5, "Alergia", "absent")}]
    assert end_to_end_scores(gold, [{(0, 5, "Alergia", "present")}])["span_and_label_right"] == 1
    assert end_to_end_scores(gold, [set()]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 0,
                                                "fn": 1, "span_and_label_right": 0}
