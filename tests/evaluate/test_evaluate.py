"""Evaluating pipelines: threshold policies on known probabilities, span-only pipelines, the command and its files."""

import hashlib
import json
import zlib

import numpy

import pytest
import spacy
import srsly
import typer
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from typer.testing import CliRunner

from helpers.clinical_notes import SMALL_TAGGER_MODEL
from helpers import assert_clean_error
from spacy_clinical_pt.compare import aggregate_runs, load_run, render_aggregate, table5
from spacy_clinical_pt.cli.evaluate import evaluate_command
from spacy_clinical_pt.evaluate import ORACLE_NOTE, evaluate_pipeline, write_outputs
from spacy_clinical_pt.results import sha256_of
from spacy_clinical_pt.schemes import encode
from spacy_clinical_pt.thresholds import Thresholds

LABELS = ["Anatomia", "Problema"]
CLINICAL_TOKENIZER = {"nlp": {"tokenizer": {"@tokenizers": "spacy_clinical_pt.ClinicalTokenizer.v1"}}}
# (text, gold spans in clinical-tokenizer tokens). Token 4 of the first note is a "\n" whitespace token.
TEST = [
    ("Dor no peito .\nNega febre .", [(0, 3, "Problema"), (2, 3, "Anatomia"), (6, 7, "Problema")]),
    ("Edema no pé esquerdo .", [(0, 4, "Problema"), (2, 4, "Anatomia")]),
]
DEV = [
    ("Refere dor na perna .", [(1, 4, "Problema"), (3, 4, "Anatomia")]),
    ("Sem queixas .", []),
]
TRAIN = TEST + DEV + [("Tosse seca e dor no peito .", [(0, 2, "Problema"), (3, 6, "Problema"), (5, 6, "Anatomia")])]


def make_docs(nlp, notes):
    docs = []
    for text, spans in notes:
        doc = nlp.make_doc(text)
        doc.spans["sc"] = [Span(doc, s, e, label=label) for s, e, label in spans]
        docs.append(doc)
    return docs


def designed_probs(doc, gold):
    """IO probabilities: gold cells 0.6, others 0.1, with the exceptions that make dev and test disagree.

    Test: "febre" (a gold Problema) only 0.3; the "." after "esquerdo" 0.4 as Problema; the "\\n" 0.95.
    Dev: the "." 0.4 as Problema and "Refere" 0.35 as Anatomia.
    """
    probs = 0.1 + 0.5 * encode(gold, len(doc), LABELS, "IO")
    words = [t.text for t in doc]
    problema = LABELS.index("Problema")
    if "febre" in words:
        probs[words.index("febre"), problema] = 0.3
        probs[words.index("\n"), problema] = 0.95
    if "esquerdo" in words or "perna" in words:
        probs[len(doc) - 1, problema] = 0.4
    if "Refere" in words:
        probs[0, LABELS.index("Anatomia")] = 0.35
    return probs.astype("float32")


def tagger_pipeline(scheme="IO"):
    nlp = spacy.blank("pt", config=CLINICAL_TOKENIZER)
    nlp.add_pipe("clinical_tagger", config={"scheme": scheme, "model": SMALL_TAGGER_MODEL})
    examples = [Example(nlp.make_doc(d.text), d) for d in make_docs(nlp, TRAIN)]
    nlp.initialize(lambda: examples)
    return nlp


@pytest.fixture(scope="module")
def designed():
    """An IO pipeline whose tagger outputs `designed_probs` instead of running its model."""
    nlp = tagger_pipeline()
    gold = {text: spans for text, spans in TEST + DEV}
    tagger = nlp.get_pipe("clinical_tagger")
    tagger.predict = lambda docs: [designed_probs(doc, gold[doc.text]) for doc in docs]
    return nlp


def test_oracle_picks_the_test_optimum(designed):
    nlp = designed
    result = evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="oracle")
    m = result.metrics
    # Test micro F1 by threshold: (0.10, 0.30] 22/23, (0.30, 0.40] 20/22, (0.40, 0.60] 20/21; the middle of the
    # best plateau 0.11 .. 0.30 is 0.20.
    assert m["threshold"]["value"] == pytest.approx(0.20)
    assert m["threshold"]["chosen_on"] == "test" and m["threshold"]["description"] == ORACLE_NOTE
    token = m["token"]["IO"]
    assert token["micro"]["f1"] == pytest.approx(22 / 23)
    assert (token["micro"]["tp"], token["micro"]["fp"], token["micro"]["fn"]) == (11, 1, 0)
    # 13 tokens, the "\n" left out although it scores 0.95 as Problema.
    assert m["counts"]["tokens"] == 13 and m["counts"]["whitespace_tokens_excluded"] == 1
    assert token["n_tokens"] == 12
    # Re-decoded at 0.20: "Edema no pé esquerdo ." becomes one Problema (0, 5): strict misses it, partial does not.
    assert (m["entity"]["strict"]["tp"], m["entity"]["strict"]["fp"], m["entity"]["strict"]["fn"]) == (4, 1, 1)
    assert m["entity"]["partial"]["tp"] == 5 and m["entity"]["partial"]["fp"] == 0
    # The chosen threshold is returned; the pipeline keeps its own.
    assert result.thresholds == Thresholds(0.20) and nlp.get_pipe("clinical_tagger").threshold == 0.5


def test_dev_policy_chooses_on_dev_and_reports_the_oracle_for_comparison(designed):
    nlp = designed
    result = evaluate_pipeline(nlp, make_docs(nlp, TEST), make_docs(nlp, DEV), policy="dev")
    m = result.metrics
    assert m["threshold"]["value"] == pytest.approx(0.50) and m["threshold"]["chosen_on"] == "dev"  # 0.41 .. 0.60
    assert m["threshold"]["f1_where_chosen"] == pytest.approx(1.0)
    assert m["threshold"]["test_optimum"]["value"] == pytest.approx(0.20)
    token = m["token"]["IO"]
    assert token["micro"]["precision"] == pytest.approx(1.0) and token["micro"]["recall"] == pytest.approx(10 / 11)
    assert token["per_label"]["Problema"]["fn"] == 1 and token["per_label"]["Anatomia"]["f1"] == pytest.approx(1.0)
    strict = m["entity"]["strict"]
    assert (strict["tp"], strict["fp"], strict["fn"]) == (4, 0, 1)
    assert strict["per_label"]["Anatomia"]["f1"] == pytest.approx(1.0)
    assert strict["per_label"]["Problema"]["recall"] == pytest.approx(2 / 3)
    assert m["threshold"]["test_micro_f1_by_threshold"]["0.50"] == pytest.approx(20 / 21, abs=1e-6)
    assert result.thresholds == Thresholds(m["threshold"]["value"])


def test_per_label_and_fixed_thresholds(designed):
    nlp = designed
    per_label = evaluate_pipeline(nlp, make_docs(nlp, TEST), make_docs(nlp, DEV), policy="dev", per_label=True)
    # On dev, Anatomia must stay above "Refere" (0.35) and Problema above "." (0.4).
    assert per_label.metrics["threshold"]["value"] == pytest.approx({"Anatomia": 0.48, "Problema": 0.50})
    fixed = evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="fixed", threshold=0.35)
    assert fixed.metrics["threshold"]["value"] == 0.35
    assert fixed.metrics["token"]["IO"]["micro"]["f1"] == pytest.approx(20 / 22)
    partial = evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="fixed", threshold={"Problema": 0.35})
    assert partial.metrics["threshold"]["value"] == {"Anatomia": 0.5, "Problema": 0.35}
    with pytest.raises(ValueError, match="unknown label"):
        evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="fixed", threshold={"Doenca": 0.3})
    with pytest.raises(ValueError, match="--dev"):
        evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="dev")


def test_entity_objective_chooses_the_threshold_of_the_best_spans(designed):
    nlp = designed
    # Strict micro F1 on test by threshold: (0.10, 0.30] 8/10 ("Edema no pé esquerdo ." swallows the "."),
    # (0.30, 0.40] 6/9 (and "febre" is lost), (0.40, 0.60] 8/9: the token objective's 0.20 is not the best for spans.
    result = evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="oracle", objective="entity")
    section = result.metrics["threshold"]
    assert section["value"] == pytest.approx(0.50) and section["f1_where_chosen"] == pytest.approx(8 / 9)
    assert section["objective"].startswith("entity strict micro F1")
    strict = result.metrics["entity"]["strict"]
    assert (strict["tp"], strict["fp"], strict["fn"]) == (4, 0, 1)
    # Per label: Anatomia is exact anywhere in (0.10, 0.60] (middle 0.35); Problema best in (0.40, 0.60].
    per_label = evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="oracle", per_label=True, objective="entity")
    assert per_label.metrics["threshold"]["value"] == pytest.approx({"Anatomia": 0.35, "Problema": 0.50})
    assert per_label.metrics["threshold"]["f1_where_chosen"] == pytest.approx({"Anatomia": 1.0, "Problema": 0.8})
    with pytest.raises(ValueError, match="objective"):
        evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="oracle", objective="span")


def test_curves_cover_every_label_and_the_micro_average(designed):
    nlp = designed
    result = evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="oracle")
    assert {r["series"] for r in result.pr_rows} == {"Anatomia", "Problema", "micro"}
    micro = {round(r["threshold"], 2): r for r in result.pr_rows if r["series"] == "micro"}
    assert micro[0.41]["recall"] == pytest.approx(10 / 11) and micro[0.41]["precision"] == pytest.approx(1.0)
    assert {r["series"] for r in result.roc_rows} == {"Anatomia", "Problema", "micro"}


def test_bio_pipeline_scores_columns_and_entity_types():
    nlp = tagger_pipeline("BIO")
    gold = {text: spans for text, spans in TEST}
    tagger = nlp.get_pipe("clinical_tagger")
    tagger.predict = lambda docs: [0.1 + 0.8 * encode(gold[d.text], len(d), LABELS, "BIO") for d in docs]
    m = evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="oracle").metrics
    assert set(m["token"]) == {"BIO", "BIO_collapsed"}
    assert list(m["token"]["BIO"]["per_label"]) == ["B-Anatomia", "I-Anatomia", "B-Problema", "I-Problema"]
    assert list(m["token"]["BIO_collapsed"]["per_label"]) == LABELS
    assert m["token"]["BIO"]["micro"]["f1"] == pytest.approx(1.0)
    assert m["token"]["BIO_collapsed"]["micro"]["tp"] == 11  # the same cells as the IO matrix
    assert m["entity"]["strict"]["micro"]["f1"] == pytest.approx(1.0)


def test_start_and_continuation_thresholds_are_tuned_together():
    """A spurious start (B 0.6 on "Nega") wants a high start threshold, a weak inside token (I 0.45 on
    "esquerdo") a low continuation threshold: no single threshold gets both, the pair does."""
    nlp = tagger_pipeline("BIO")
    gold = {text: spans for text, spans in TEST}
    tagger = nlp.get_pipe("clinical_tagger")

    def probs(doc):
        p = 0.1 + 0.8 * encode(gold[doc.text], len(doc), LABELS, "BIO")
        words = [t.text for t in doc]
        b_problema, i_problema = 2 * LABELS.index("Problema"), 2 * LABELS.index("Problema") + 1
        if "Nega" in words:
            p[words.index("Nega"), b_problema] = 0.6
        if "esquerdo" in words:
            p[words.index("esquerdo"), i_problema] = 0.45
        return p.astype("float32")

    tagger.predict = lambda docs: [probs(d) for d in docs]
    # One threshold: at most 0.45 keeps "esquerdo" but starts a span at "Nega" (strict 10/11); above 0.6 drops
    # "Nega" but cuts "Edema no pé esquerdo" short (8/10).
    single = evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="oracle", objective="entity")
    assert single.metrics["entity"]["strict"]["micro"]["f1"] == pytest.approx(10 / 11)
    assert "continue_threshold" not in single.metrics["threshold"]
    pair = evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="oracle", objective="entity", tune_continue=True)
    section = pair.metrics["threshold"]
    assert 0.6 < section["value"] <= 0.9 and section["continue_threshold"]["value"] <= 0.45
    assert section["f1_where_chosen"] == pytest.approx(1.0)
    assert pair.metrics["entity"]["strict"]["micro"]["f1"] == pytest.approx(1.0)
    assert pair.thresholds == Thresholds(section["value"], section["continue_threshold"]["value"])
    assert tagger.continue_threshold is None  # evaluating leaves the pipeline alone ...
    assert pair.thresholds.apply_to(nlp) == "clinical_tagger"  # ... applying the result makes it decode as evaluated
    assert tagger.continue_threshold == section["continue_threshold"]["value"]
    doc = nlp("Edema no pé esquerdo .")
    assert [(s.start, s.end) for s in doc.spans["sc"] if s.label_ == "Problema"] == [(0, 4)]
    with pytest.raises(ValueError, match="continuation"):
        evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="oracle", tune_continue=True)  # token objective


def test_bioe_tagger_is_scored_on_its_columns_and_ends_spans_on_its_end_column():
    """A spurious inside token (I 0.6 on the "." after "esquerdo") carries a BIO span one token too far; the end
    column (E 0.9 on "esquerdo", 0.1 on ".") stops it where the entity ends."""
    nlp = tagger_pipeline("BIOE")
    gold = {text: spans for text, spans in TEST}
    tagger = nlp.get_pipe("clinical_tagger")

    def probs(doc):
        p = 0.1 + 0.8 * encode(gold[doc.text], len(doc), LABELS, "BIOE")
        if "esquerdo" in [t.text for t in doc]:
            p[len(doc) - 1, 3 * LABELS.index("Problema") + 1] = 0.6
        return p.astype("float32")

    tagger.predict = lambda docs: [probs(d) for d in docs]
    m = evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="fixed", threshold=0.5).metrics
    assert set(m["token"]) == {"BIOE", "BIOE_collapsed"}
    assert list(m["token"]["BIOE"]["per_label"])[:3] == ["B-Anatomia", "I-Anatomia", "E-Anatomia"]
    assert m["token"]["BIOE_collapsed"]["micro"]["fp"] == 1  # the "." is inside by its I column
    assert m["entity"]["strict"]["micro"]["f1"] == pytest.approx(1.0)  # ... but no span takes it
    doc = nlp("Edema no pé esquerdo .")
    assert [(s.start, s.end) for s in doc.spans["sc"] if s.label_ == "Problema"] == [(0, 4)]
    tuned = evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="oracle", objective="entity", tune_continue=True)
    assert tuned.metrics["threshold"]["f1_where_chosen"] == pytest.approx(1.0)
    assert "continue_threshold" in tuned.metrics["threshold"]


def two_stage_pipeline():
    """A BIOE tagger proposing candidates from gold-shaped probabilities, and a spancat that scores them by design.

    Proposals: every gold span and its one-token widenings, except the Anatomia "peito" of the first test note
    (its B is low): the recall ceiling on test is 4/5. Span scores: gold 0.7, other candidates 0.05, except on
    test "febre" (gold) 0.3 and "Edema no pé esquerdo ." (too long) 0.45 as Problema, on dev "Refere dor na
    perna" (too long) 0.4 as Problema. Dev prefers 0.41-0.70 (middle 0.55); test would prefer 0.06-0.30.
    """
    nlp = spacy.blank("pt", config=CLINICAL_TOKENIZER)
    nlp.add_pipe(
        "clinical_tagger",
        config={"scheme": "BIOE", "model": SMALL_TAGGER_MODEL, "store_spans": False},
    )
    spancat = nlp.add_pipe(
        "spancat",
        config={"max_positive": None, "suggester": {"@misc": "spacy_clinical_pt.tagger_suggester.v1",
                                                     "threshold": 0.5}},
    )
    examples = [Example(nlp.make_doc(d.text), d) for d in make_docs(nlp, TRAIN)]
    nlp.initialize(lambda: examples)
    gold = {text: spans for text, spans in TEST + DEV}
    special = {
        ("Dor no peito .\nNega febre .", 6, 7, "Problema"): 0.3,
        ("Edema no pé esquerdo .", 0, 5, "Problema"): 0.45,
        ("Refere dor na perna .", 0, 4, "Problema"): 0.4,
    }

    def tagger_probs(doc):
        probs = 0.01 + 0.9 * encode(gold[doc.text], len(doc), LABELS, "BIOE")
        if doc.text.startswith("Dor no peito"):
            probs[2, 3 * LABELS.index("Anatomia")] = 0.01
        return probs.astype("float32")

    def spancat_predict(docs):
        indices = spancat.suggester(docs, ops=spancat.model.ops)
        rows = []
        for doc, candidates in zip(docs, indices):
            for start, end in candidates.dataXd.tolist():
                rows.append([
                    special.get((doc.text, start, end, label), 0.7 if (start, end, label) in gold[doc.text] else 0.05)
                    for label in spancat.labels
                ])
        return indices, numpy.asarray(rows, dtype="float32").reshape(-1, len(spancat.labels))

    nlp.get_pipe("clinical_tagger").predict = lambda docs: [tagger_probs(doc) for doc in docs]
    spancat.predict = spancat_predict
    return nlp


def test_span_classifier_threshold_is_chosen_on_dev_over_its_span_scores(tmp_path):
    nlp = two_stage_pipeline()
    spancat = nlp.get_pipe("spancat")
    result = evaluate_pipeline(nlp, make_docs(nlp, TEST), make_docs(nlp, DEV), policy="dev")
    m = result.metrics
    assert m["pipeline_kind"] == "span_classifier" and m["component"] == "spancat" and m["scheme"] is None
    section = m["threshold"]
    assert section["chosen_on"] == "dev" and section["value"] == pytest.approx(0.55)
    assert section["f1_where_chosen"] == pytest.approx(1.0)
    assert section["test_optimum"]["value"] == pytest.approx(0.18)  # middle of the 0.06-0.30 plateau
    strict = m["entity"]["strict"]
    assert (strict["tp"], strict["fp"], strict["fn"]) == (3, 0, 2)  # febre (0.3) and the unproposed peito missed
    assert m["candidates"]["gold_spans"] == 5 and m["candidates"]["gold_spans_proposed"] == 4
    assert m["candidates"]["recall"] == pytest.approx(0.8)
    assert spancat.cfg["threshold"] == 0.5 and result.thresholds == Thresholds(0.55)  # returned, not set
    assert m["token"]["IO"]["per_label"]["Problema"]["fn"] == 1  # febre
    micro = [row for row in result.pr_rows if row["series"] == "micro"]
    assert len(micro) == 104 and micro[0]["threshold"] == pytest.approx(0.001)  # 5 points below 0.01, then 0.01..
    written = {path.name for path in write_outputs(result, tmp_path)}
    assert written == {"metrics.json", "report.md", "pr_curves.csv", "pr_curves.png"}  # no token ROC: no token scores
    per_label = m["candidates"]["per_label"]
    ceilings = ", ".join(f"{label} {row['recall']:.3f} ({row['gold_spans_proposed']}/{row['gold_spans']})"
                         for label, row in per_label.items())
    assert sum(row["gold_spans"] for row in per_label.values()) == 5
    assert f"- recall ceiling per label: {ceilings}" in (tmp_path / "report.md").read_text(encoding="utf8")
    report = (tmp_path / "report.md").read_text()
    assert "4 of 5 gold spans among them (recall ceiling 0.8000" in report and "span classifier" in report
    oracle = evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="oracle").metrics
    assert oracle["threshold"]["value"] == pytest.approx(0.18)
    assert oracle["entity"]["strict"]["micro"]["f1"] == pytest.approx(0.8)
    fixed = evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="fixed", threshold=0.4).metrics
    assert (fixed["entity"]["strict"]["tp"], fixed["entity"]["strict"]["fp"]) == (3, 1)
    per_label = evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="fixed", threshold={"Problema": 0.2}).metrics
    assert per_label["entity"]["strict"]["per_label"]["Problema"]["tp"] == 3  # febre in, Anatomia at 0.5
    with pytest.raises(ValueError, match="--dev"):
        evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="dev")
    with pytest.raises(ValueError, match="no continuation threshold"):
        evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="oracle", tune_continue=True)


def test_two_stage_pipeline_is_named_in_metrics_aggregate_and_table5(tmp_path):
    """The BIOE tagger proposing and spancat deciding is scored on the IO matrix, but every table says what ran."""
    nlp = two_stage_pipeline()
    result = evaluate_pipeline(nlp, make_docs(nlp, TEST), make_docs(nlp, DEV), policy="dev")
    setup = result.metrics["pipeline_setup"]
    assert setup == {"name": "BIOE + spancat", "tagger_scheme": "BIOE", "span_classifier": "spancat"}
    result.metrics["provenance"] = {"label": "cnn", "corpus": "nestedclinbr", "seed": 42}
    write_outputs(result, tmp_path / "run")
    run = load_run(tmp_path / "run")
    assert run.pipeline == "BIOE + spancat" and run.scheme == "IO"  # the token figures come from the IO matrix
    table = render_aggregate(aggregate_runs([run]))
    assert "| cnn | BIOE + spancat | dev " in table
    header, rows = table5([run])
    assert header == ["model", "nestedclinbr macro F1 BIOE + spancat", "nestedclinbr micro F1 BIOE + spancat"]
    assert rows[0][2] == pytest.approx(result.metrics["token"]["IO"]["micro"]["f1"])


def test_pipeline_setup_names_taggers_and_span_only_pipelines(designed):
    assert evaluate_pipeline(designed, make_docs(designed, TEST), policy="oracle").metrics["pipeline_setup"] == {
        "name": "IO", "tagger_scheme": "IO", "span_classifier": None
    }
    nlp = spacy.blank("pt", config=CLINICAL_TOKENIZER)
    nlp.add_pipe("test_evaluate_fixed_spans")
    setup = evaluate_pipeline(nlp, make_docs(nlp, TEST)).metrics["pipeline_setup"]
    assert setup == {"name": "spans", "tagger_scheme": None, "span_classifier": None}


@Language.component("test_evaluate_fixed_spans")
def fixed_spans(doc):
    """A span-only 'pipeline': finds "dor" and "peito" by word, the way a rule or LLM pipeline would."""
    spans = []
    for token in doc:
        if token.lower_ == "dor":
            spans.append(Span(doc, token.i, token.i + 1, label="Problema"))
        if token.lower_ in ("peito", "pé"):
            spans.append(Span(doc, token.i, token.i + 1, label="Anatomia"))
    doc.spans["sc"] = spans
    return doc


def test_span_only_pipeline_gets_entity_and_fixed_token_metrics():
    nlp = spacy.blank("pt", config=CLINICAL_TOKENIZER)
    nlp.add_pipe("test_evaluate_fixed_spans")
    m = evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="dev").metrics  # no dev needed: no threshold
    assert m["pipeline_kind"] == "spans" and m["threshold"]["policy"] == "output"
    # Anatomia: peito and pé found, esquerdo missed; Problema: only "Dor" of five tokens.
    io = m["token"]["IO"]
    assert io["per_label"]["Anatomia"]["tp"] == 2 and io["per_label"]["Anatomia"]["fn"] == 1
    assert io["per_label"]["Problema"]["recall"] == pytest.approx(1 / 8)
    assert io["auc_micro"] is None
    strict = m["entity"]["strict"]
    assert (strict["tp"], strict["fp"], strict["fn"]) == (1, 2, 4)  # peito exact; Dor and pé not
    assert m["entity"]["partial"]["tp"] == 2  # pé in "pé esquerdo": IoU 0.5


def test_gold_from_another_tokenizer_is_aligned():
    # Gold tokenized elsewhere, with "peito." as one token; the pipeline splits off the period.
    nlp = spacy.blank("pt", config=CLINICAL_TOKENIZER)
    nlp.add_pipe("test_evaluate_fixed_spans")
    gold = Doc(nlp.vocab, words=["Dor", "no", "peito.", "Nega", "febre."], spaces=[True, True, True, True, False])
    gold.spans["sc"] = [Span(gold, 0, 3, label="Problema"), Span(gold, 2, 3, label="Anatomia")]
    m = evaluate_pipeline(nlp, [gold]).metrics
    assert m["counts"]["gold_spans"] == 2 and m["counts"]["gold_spans_lost_in_alignment"] == 0
    assert m["counts"]["tokens"] == 7  # the pipeline's tokens are the unit
    # Gold "peito." covers the pipeline's "peito" and ".": the prediction "peito" is partial (IoU 0.5), not strict.
    assert m["entity"]["strict"]["per_label"]["Anatomia"]["tp"] == 0
    assert m["entity"]["partial"]["per_label"]["Anatomia"]["tp"] == 1
    assert m["token"]["IO"]["per_label"]["Anatomia"]["fn"] == 1


def test_gold_spans_that_cannot_be_aligned_are_counted_as_lost():
    """Mutation caught: the count of gold spans lost in alignment (e.g. not counted, or counted per document)."""
    nlp = spacy.blank("pt", config=CLINICAL_TOKENIZER)
    nlp.add_pipe("test_evaluate_fixed_spans")
    # Gold tokenized elsewhere: "pe" + "ito" and "feb" + "re" split words the pipeline keeps whole.
    gold = Doc(nlp.vocab, words=["Dor", "no", "pe", "ito", "."], spaces=[True, True, False, True, False])
    gold.spans["sc"] = [Span(gold, 0, 1, label="Problema"), Span(gold, 2, 3, label="Anatomia"),
                        Span(gold, 3, 4, label="Anatomia")]
    second = Doc(nlp.vocab, words=["Nega", "feb", "re"], spaces=[True, False, False])
    second.spans["sc"] = [Span(second, 1, 2, label="Problema")]
    m = evaluate_pipeline(nlp, [gold, second]).metrics
    # "pe" and "ito" are halves of the pipeline's "peito", "feb" of "febre": three spans lost, "Dor" kept.
    assert m["counts"]["gold_spans_lost_in_alignment"] == 3
    assert m["counts"]["gold_spans"] == 1


def test_span_classifier_threshold_is_restored_after_evaluating_and_when_it_raises():
    """Mutation caught: not restoring the span classifier's threshold (lowered to the grid's bottom while the
    pipeline runs)."""
    nlp = two_stage_pipeline()
    spancat = nlp.get_pipe("spancat")
    spancat.cfg["threshold"] = 0.42
    evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="oracle")
    assert spancat.cfg["threshold"] == 0.42

    def failing(docs):
        raise RuntimeError("the model failed")

    spancat.predict = failing
    with pytest.raises(RuntimeError, match="the model failed"):
        evaluate_pipeline(nlp, make_docs(nlp, TEST), policy="oracle")
    assert spancat.cfg["threshold"] == 0.42


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A tiny trained tagger on disk, and gold test/dev DocBins."""
    root = tmp_path_factory.mktemp("evaluate")
    spacy.util.fix_random_seed(0)
    nlp = tagger_pipeline()
    examples = [Example(nlp.make_doc(d.text), d) for d in make_docs(nlp, TRAIN)]
    optimizer = nlp.create_optimizer()
    optimizer.learn_rate = 0.01
    for _ in range(15):
        nlp.update(examples, sgd=optimizer)
    nlp.meta["name"] = "tiny_tagger"
    nlp.to_disk(root / "model")
    for name, notes in (("test", TEST), ("dev", DEV)):
        (root / "corpus").mkdir(exist_ok=True)
        DocBin(docs=make_docs(nlp, notes), store_user_data=True).to_disk(root / "corpus" / f"{name}.spacy")
    return root


def cli():
    app = typer.Typer()
    app.command("evaluate")(evaluate_command)
    app.command("noop")(lambda: None)  # two commands, so "evaluate" is a subcommand as in the real CLI
    return app


def test_evaluate_command_writes_every_output(saved_run):
    out = saved_run / "oracle"
    args = ["evaluate", str(saved_run / "model"), str(saved_run / "corpus" / "test.spacy"), "--threshold-policy",
            "oracle", "--output", str(out), "--seed", "7", "--name", "tiny"]
    result = CliRunner().invoke(cli(), args)
    assert result.exit_code == 0, result.output
    assert "oracle" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"token", "entity", "threshold", "provenance"}
    assert set(metrics["entity"]) == {"strict", "partial", "boundary"}
    prov = metrics["provenance"]
    test_file = saved_run / "corpus" / "test.spacy"
    assert prov["data"]["test"]["sha256"] == hashlib.sha256(test_file.read_bytes()).hexdigest() == sha256_of(test_file)
    assert prov["seed"] == 7 and prov["label"] == "tiny" and prov["corpus"] == "corpus"
    assert prov["pipeline"]["name"] == "tiny_tagger" and prov["package_version"]
    assert ORACLE_NOTE in prov["threshold_policy"]
    report = (out / "report.md").read_text()
    assert ORACLE_NOTE in report and "| IO |" in report and "whitespace" in report
    for name in ("pr_curves.png", "roc_curves.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    rows = (out / "pr_curves.csv").read_text().splitlines()
    assert rows[0].startswith("series,threshold,precision,recall,f1") and len(rows) == 1 + 3 * 99


def test_evaluate_command_dev_policy(saved_run):
    out = saved_run / "dev"
    base = ["evaluate", str(saved_run / "model"), str(saved_run / "corpus" / "test.spacy"), "--output", str(out)]
    missing = CliRunner().invoke(cli(), base)
    assert missing.exit_code == 1 and "--dev" in missing.output
    result = CliRunner().invoke(cli(), base + ["--dev", str(saved_run / "corpus" / "dev.spacy")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["threshold"]["chosen_on"] == "dev" and "dev" in metrics["provenance"]["data"]
    assert ORACLE_NOTE not in metrics["threshold"]["description"]
    # The figures on test at the threshold chosen on dev, as evaluate_pipeline gives them for the same pipeline.
    nlp = spacy.load(saved_run / "model")
    expected = evaluate_pipeline(nlp, make_docs(nlp, TEST), make_docs(nlp, DEV), policy="dev").metrics
    assert metrics["threshold"]["value"] == pytest.approx(expected["threshold"]["value"])
    assert metrics["token"]["IO"]["micro"] == pytest.approx(expected["token"]["IO"]["micro"])
    assert metrics["entity"]["strict"]["micro"] == pytest.approx(expected["entity"]["strict"]["micro"])


def _bad_evaluate_args(case, saved_run, tmp_path):
    """The evaluate arguments of one bad input, and the path its error must name."""
    model, test = str(saved_run / "model"), str(saved_run / "corpus" / "test.spacy")
    oracle = ["--threshold-policy", "oracle", "--output", str(tmp_path / "out")]
    corrupt = tmp_path / "corrupt.spacy"
    corrupt.write_bytes(b"\x00 not a DocBin")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    (tmp_path / "not_a_pipeline").mkdir()
    damaged = tmp_path / "damaged.spacy"  # token counts of zero: spaCy builds the spans only when they are read
    content = srsly.msgpack_loads(zlib.decompress((saved_run / "corpus" / "test.spacy").read_bytes()))
    damaged.write_bytes(zlib.compress(srsly.msgpack_dumps({**content, "lengths": bytes(len(content["lengths"]))})))
    return {
        "damaged test file": ([model, str(damaged), *oracle], "damaged.spacy: document 1: not a valid spaCy Doc"),
        "missing test file": ([model, str(tmp_path / "missing.spacy"), *oracle], "missing.spacy: no such file"),
        "corrupt test file": ([model, str(corrupt), *oracle], "corrupt.spacy: not a spaCy DocBin"),
        "corrupt dev file": ([model, test, "--dev", str(corrupt), "--output", str(tmp_path / "out")], "corrupt.spacy"),
        "no pipeline there": ([str(tmp_path / "no_model"), test, *oracle], "no_model: no such pipeline folder"),
        "not a pipeline": ([str(tmp_path / "not_a_pipeline"), test, *oracle], "not_a_pipeline: not a loadable"),
        "no gold spans": ([model, test, *oracle, "--gold-key", "ents"], "no gold spans under doc.spans['ents']"),
        "output under a file": (
            [model, test, "--threshold-policy", "oracle", "--output", str(blocker / "out")], str(blocker / "out")
        ),
    }[case]


@pytest.mark.parametrize(
    "case",
    ["missing test file", "corrupt test file", "damaged test file", "corrupt dev file", "no pipeline there",
     "not a pipeline", "no gold spans", "output under a file"],
)
def test_evaluate_command_bad_input_is_a_clear_error(case, saved_run, tmp_path):
    args, named = _bad_evaluate_args(case, saved_run, tmp_path)
    assert_clean_error(CliRunner().invoke(cli(), ["evaluate", *args]), named)
