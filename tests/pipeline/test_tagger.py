"""The clinical_tagger component: overlapping spans out, loss and gradient, thresholds, serialization, nlp.pipe,
and its proposals to spancat through `spacy_clinical_pt.tagger_suggester.v1`."""

import numpy
import pytest
import spacy
import srsly
from confection import ConfigValidationError
from scipy.special import expit
from spacy.tokens import Doc, Span
from spacy.training import Example
from thinc.api import NumpyOps

from helpers.clinical_notes import SMALL_TAGGER_MODEL
from spacy_clinical_pt.metrics import token_label_matrix, token_metrics, whitespace_tokens
from spacy_clinical_pt.schemes import candidate_spans, encode
from spacy_clinical_pt.tagger import ClinicalTagger, best_non_overlapping, clinical_tagger_score, sigmoid

# Short hand-written notes; Anatomia sits inside Problema, as in NestedClinBr.
NOTES = [
    ("Paciente com dor no peito há dois dias .", [(2, 5, "Problema"), (4, 5, "Anatomia")]),
    ("Refere dor na perna direita .", [(1, 5, "Problema"), (3, 5, "Anatomia")]),
    ("Nega febre .", [(1, 2, "Problema")]),
    ("Edema no pé esquerdo desde ontem .", [(0, 4, "Problema"), (2, 4, "Anatomia")]),
    ("Sem queixas .", []),
    ("Tosse seca e dor no peito .", [(0, 2, "Problema"), (3, 6, "Problema"), (5, 6, "Anatomia")]),
]
LABELS = ("Anatomia", "Problema")


def examples(nlp):
    out = []
    for text, spans in NOTES:
        reference = nlp.make_doc(text)
        reference.spans["sc"] = [Span(reference, s, e, label=label) for s, e, label in spans]
        out.append(Example(nlp.make_doc(text), reference))
    return out


def train(scheme, steps=30, **config):
    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("pt")
    nlp.add_pipe("clinical_tagger", config={"scheme": scheme, "model": SMALL_TAGGER_MODEL, **config})
    data = examples(nlp)
    optimizer = nlp.initialize(lambda: data)
    optimizer.learn_rate = 0.01  # a few dozen updates on six notes: learn fast
    losses = []
    for _ in range(steps):
        losses.append(nlp.update(data, sgd=optimizer)["clinical_tagger"])
    return nlp, losses


@pytest.fixture(scope="module", params=["IO", "BIO", "BIOE"])
def trained(request):
    return train(request.param)


def spans_of(doc, key="sc"):
    return [(s.start, s.end, s.label_) for s in doc.spans[key]]


def test_learns_overlapping_spans(trained):
    nlp, losses = trained
    assert losses[-1] < 0.1 * losses[0]
    tagger = nlp.get_pipe("clinical_tagger")
    assert tagger.labels == LABELS
    for text, gold in NOTES:
        doc = nlp(text)
        assert spans_of(doc) == sorted((s, e, label) for s, e, label in gold)
        scores = doc.spans["sc"].attrs["scores"]
        assert len(scores) == len(doc.spans["sc"]) and ((scores > 0.5) & (scores <= 1.0)).all()
        assert doc.spans["sc"].attrs["columns"] == tagger.columns


def test_token_probabilities_are_on_the_doc(trained):
    nlp, _ = trained
    tagger = nlp.get_pipe("clinical_tagger")
    doc = nlp(NOTES[0][0])
    probs = doc._.clinical_probs
    assert probs.shape == (len(doc), len(tagger.columns))
    numpy.testing.assert_allclose(probs, tagger.predict_proba([nlp.make_doc(doc.text)])[0], rtol=1e-5, atol=1e-6)
    # "peito" (token 4) is a one-token Anatomia: its I column in IO, its B column in BIO and BIOE
    anatomia = tagger.columns.index(("I-" if tagger.scheme == "IO" else "B-") + "Anatomia")
    assert probs[4, anatomia] > 0.5 and probs[0, anatomia] < 0.5


def test_empty_and_whitespace_docs(trained):
    nlp, _ = trained
    for text in ["", "   ", "\n\n"]:
        doc = nlp(text)
        assert list(doc.spans["sc"]) == []
        assert doc._.clinical_probs.shape == (len(doc), len(nlp.get_pipe("clinical_tagger").columns))
    docs = list(nlp.pipe(["", NOTES[2][0], "  "]))
    assert spans_of(docs[1]) == [(1, 2, "Problema")]


def test_threshold_can_change_after_training(trained):
    nlp, _ = trained
    tagger = nlp.get_pipe("clinical_tagger")
    text = NOTES[0][0]
    try:
        tagger.threshold = 0.999999
        assert len(nlp(text).spans["sc"]) < len(NOTES[0][1])
        tagger.threshold = {"Anatomia": 0.999999}
        doc = nlp(text)
        assert [s.label_ for s in doc.spans["sc"]] == ["Problema"]
    finally:
        tagger.threshold = 0.5


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.2, -0.5])
def test_threshold_outside_zero_one_is_refused(trained, bad):
    nlp, _ = trained
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        nlp.get_pipe("clinical_tagger").threshold = bad
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        spacy.blank("pt").add_pipe("clinical_tagger", config={"threshold": bad})


def test_threshold_for_unknown_label_is_refused(trained):
    nlp, _ = trained
    with pytest.raises(ValueError, match="unknown label.*'Teste'"):
        nlp.get_pipe("clinical_tagger").threshold = {"Teste": 0.3}


def test_unknown_scheme_or_weighting_is_refused():
    with pytest.raises(ValueError, match="unknown annotation scheme 'IOB2'"):
        spacy.blank("pt").add_pipe("clinical_tagger", config={"scheme": "IOB2"})
    with pytest.raises(ValueError, match="unknown class_weighting 'focal'"):
        spacy.blank("pt").add_pipe("clinical_tagger", config={"class_weighting": "focal"})


def test_gold_label_unknown_to_the_component_is_a_clear_error(trained):
    nlp, _ = trained
    reference = nlp.make_doc("Nega febre .")
    reference.spans["sc"] = [Span(reference, 1, 2, label="Teste")]
    with pytest.raises(ValueError, match="label 'Teste', which is not among the labels"):
        nlp.update([Example(nlp.make_doc("Nega febre ."), reference)])


def test_no_labels_is_a_clear_error():
    nlp = spacy.blank("pt")
    nlp.add_pipe("clinical_tagger", config={"model": SMALL_TAGGER_MODEL})
    doc = nlp.make_doc("Sem queixas .")
    with pytest.raises(ValueError, match="no labels"):
        nlp.initialize(lambda: [Example(doc, doc.copy())])


def test_scores_report_span_and_token_level_f1(trained):
    nlp, _ = trained
    scores = nlp.evaluate(examples(nlp))
    assert scores["spans_sc_f"] == 1.0
    assert scores["spans_sc_token_micro_f"] == 1.0 and scores["spans_sc_token_macro_f"] == 1.0
    tagger = nlp.get_pipe("clinical_tagger")
    try:
        tagger.threshold = {"Anatomia": 0.999999}  # Anatomia disappears: Problema stays perfect
        scores = nlp.evaluate(examples(nlp))
    finally:
        tagger.threshold = 0.5
    per_type = scores["spans_sc_token_per_type"]
    assert per_type["Problema"]["f"] == 1.0 and per_type["Anatomia"]["r"] == 0.0
    # 13 Problema tokens and 5 Anatomia tokens in gold; only the Problema ones are found.
    assert scores["spans_sc_token_micro_r"] == pytest.approx(17 / 23)
    assert scores["spans_sc_token_macro_f"] == pytest.approx(0.5)


def scored_example(text, gold, pred):
    """An Example whose reference holds the `gold` spans and whose prediction holds `pred`, in doc.spans["sc"]."""
    nlp = spacy.blank("pt")
    reference, predicted = nlp.make_doc(text), nlp.make_doc(text)
    reference.spans["sc"] = [Span(reference, s, e, label=label) for s, e, label in gold]
    predicted.spans["sc"] = [Span(predicted, s, e, label=label) for s, e, label in pred]
    return Example(predicted, reference)


def test_scorer_leaves_whitespace_tokens_out_as_evaluate_does():
    # Tokens: Dor, \n\n, no, peito, . ; gold Problema over "Dor \n\n no peito", predicted around the "\n\n".
    gold, pred = [(0, 4, "Problema")], [(0, 1, "Problema"), (2, 4, "Problema")]
    example = scored_example("Dor\n\nno peito .", gold, pred)
    assert example.predicted[1].is_space
    scores = clinical_tagger_score([example], labels=["Problema"])
    # Every real token is found: the whitespace token is not a miss.
    assert scores["spans_sc_token_micro_p"] == 1.0 and scores["spans_sc_token_micro_r"] == 1.0
    # The same figures as evaluate's: metrics.token_metrics on metrics.token_label_matrix.
    space = numpy.array([t.is_space for t in example.predicted])
    expected = token_metrics(
        token_label_matrix(gold, space, ["Problema"]), token_label_matrix(pred, space, ["Problema"]), ["Problema"]
    )
    assert scores["spans_sc_token_micro_f"] == expected["micro"]["f1"] == 1.0


def test_scorer_macro_averages_every_label_of_the_component():
    # Anatomia has no gold and no predicted token: it counts 0, so macro F1 is 0.5 (evaluate's rule), not 1.0.
    example = scored_example("Dor no peito .", [(0, 3, "Problema")], [(0, 3, "Problema")])
    scores = clinical_tagger_score([example], labels=LABELS)
    assert scores["spans_sc_token_micro_f"] == 1.0
    assert scores["spans_sc_token_macro_f"] == pytest.approx(0.5)
    assert scores["spans_sc_token_per_type"]["Anatomia"] == {"p": 0.0, "r": 0.0, "f": 0.0}


def test_scorer_scores_one_label_on_its_positive_class():
    example = scored_example("Dor no peito .", [(0, 3, "Problema")], [(0, 1, "Problema")])
    scores = clinical_tagger_score([example], labels=["Problema"])
    assert scores["spans_sc_token_micro_p"] == 1.0
    assert scores["spans_sc_token_micro_r"] == pytest.approx(1 / 3)


def test_loss_gradient_matches_finite_differences():
    nlp, _ = train("BIO", steps=0, class_weighting="none")
    tagger = nlp.get_pipe("clinical_tagger")
    tagger.cfg["class_weights"] = {c: w for c, w in zip(tagger.columns, [1.0, 2.5, 4.0, 1.0])}
    data = examples(nlp)[:2]
    rng = numpy.random.default_rng(0)
    logits = [rng.normal(size=(len(eg.predicted), 4)).astype("float64") for eg in data]
    loss, grads = tagger.get_loss(data, logits)
    eps = 1e-3
    for doc_i, row, col in [(0, 2, 1), (0, 4, 2), (1, 1, 0), (1, 3, 3)]:
        shifted = [x.copy() for x in logits]
        shifted[doc_i][row, col] += eps
        up, _ = tagger.get_loss(data, shifted)
        shifted[doc_i][row, col] -= 2 * eps
        down, _ = tagger.get_loss(data, shifted)
        assert grads[doc_i][row, col] == pytest.approx((up - down) / (2 * eps), rel=2e-2, abs=1e-6)
    # The weighted BCE of a single positive element: w * softplus(-x).
    one = [numpy.array([[0.3, 0.0, 0.0, 0.0]])]
    doc = nlp.make_doc("dor")
    reference = doc.copy()
    reference.spans["sc"] = [Span(reference, 0, 1, label="Anatomia")]
    single_loss, _ = tagger.get_loss([Example(doc, reference)], one)
    expected = (1.0 * numpy.log1p(numpy.exp(-0.3)) + 3 * numpy.log(2.0)) / 4
    assert single_loss == pytest.approx(expected, rel=1e-5)


def test_clamped_default_weights_are_stored_and_logged(trained):
    nlp, _ = trained
    tagger = nlp.get_pipe("clinical_tagger")
    weights = tagger.class_weights
    assert set(weights) == set(tagger.columns) and min(weights.values()) >= 1.0
    # 6 notes, Anatomia in 4 of them: 2/4 clamped to 1; Problema in 5: 1/5 clamped to 1.
    if tagger.scheme == "IO":
        assert weights == {"I-Anatomia": 1.0, "I-Problema": 1.0}


def test_store_ents_keeps_the_best_non_overlapping_spans():
    doc = spacy.blank("pt").make_doc("dor no peito esquerdo")
    spans = [Span(doc, 0, 4, label="Problema"), Span(doc, 2, 4, label="Anatomia"), Span(doc, 0, 1, label="X")]
    assert [(s.start, s.end) for s in best_non_overlapping(spans, [0.7, 0.9, 0.6])] == [(0, 1), (2, 4)]
    nlp, _ = train("IO", store_ents=True)
    doc = nlp(NOTES[0][0])
    assert len(doc.ents) == 1 and len(doc.spans["sc"]) == 2


def test_serialization_round_trip(trained, tmp_path):
    nlp, _ = trained
    texts = [text for text, _ in NOTES]
    expected = [spans_of(doc) for doc in nlp.pipe(texts)]
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert [spans_of(doc) for doc in loaded.pipe(texts)] == expected
    tagger = loaded.get_pipe("clinical_tagger")
    assert isinstance(tagger, ClinicalTagger)
    assert tagger.labels == LABELS and tagger.class_weights == nlp.get_pipe("clinical_tagger").class_weights
    from_bytes = spacy.blank("pt")
    from_bytes.add_pipe("clinical_tagger", config={"model": SMALL_TAGGER_MODEL, "scheme": tagger.scheme})
    from_bytes.from_bytes(nlp.to_bytes())
    assert [spans_of(doc) for doc in from_bytes.pipe(texts)] == expected
    doc = nlp(texts[0])
    restored = Doc(nlp.vocab).from_bytes(doc.to_bytes())
    numpy.testing.assert_array_equal(restored._.clinical_probs, doc._.clinical_probs)
    numpy.testing.assert_array_equal(restored.spans["sc"].attrs["scores"], doc.spans["sc"].attrs["scores"])


def test_threshold_mapping_survives_serialization(trained, tmp_path):
    nlp, _ = trained
    tagger = nlp.get_pipe("clinical_tagger")
    try:
        tagger.threshold = {"Anatomia": 0.7}
        nlp.to_disk(tmp_path / "pipeline")
    finally:
        tagger.threshold = 0.5
    # srsly's JSON reader may give back 0.7000000000000001
    assert spacy.load(tmp_path / "pipeline").get_pipe("clinical_tagger").threshold == {"Anatomia": pytest.approx(0.7)}


def test_pipe_with_two_processes_equals_one_by_one(trained):
    nlp, _ = trained
    texts = [text for text, _ in NOTES] * 3 + ["", "  "]
    one_by_one = [nlp(text) for text in texts]
    batched = list(nlp.pipe(texts, batch_size=4, n_process=2))
    assert [spans_of(doc) for doc in batched] == [spans_of(doc) for doc in one_by_one]
    for a, b in zip(batched, one_by_one):
        numpy.testing.assert_allclose(a._.clinical_probs, b._.clinical_probs, rtol=1e-5, atol=1e-6)
        numpy.testing.assert_allclose(a.spans["sc"].attrs["scores"], b.spans["sc"].attrs["scores"], rtol=1e-5)


def test_labels_given_at_initialize_keep_their_order_and_refuse_later_additions():
    nlp = spacy.blank("pt")
    tagger = nlp.add_pipe("clinical_tagger", config={"model": SMALL_TAGGER_MODEL, "scheme": "BIO"})
    data = examples(nlp)
    nlp.initialize(lambda: data)  # labels read from the data, sorted
    assert tagger.labels == LABELS
    other = spacy.blank("pt")
    tagger = other.add_pipe("clinical_tagger", config={"model": SMALL_TAGGER_MODEL, "scheme": "BIO"})
    tagger.initialize(lambda: examples(other), nlp=other, labels=["Problema", "Anatomia", "Teste"])
    assert tagger.columns == ["B-Problema", "I-Problema", "B-Anatomia", "I-Anatomia", "B-Teste", "I-Teste"]
    assert tagger.model.get_ref("output_layer").get_dim("nO") == 6
    with pytest.raises(ValueError, match="cannot add label 'Tratamento'.*already initialized"):
        tagger.add_label("Tratamento")


def test_paper_weights_warn_when_they_collapse():
    from spacy_clinical_pt.weights import ClassWeightWarning

    # Problema is in 5 of the 6 notes: N'/N = 1/5 weights its positives down.
    with pytest.warns(ClassWeightWarning, match="I-Problema is 0.200 < 1"):
        nlp, _ = train("IO", steps=0, class_weighting="inverse_doc_freq")
    assert nlp.get_pipe("clinical_tagger").class_weights == {"I-Anatomia": 0.5, "I-Problema": pytest.approx(0.2)}


def test_continue_threshold_is_checked_settable_and_saved(tmp_path):
    nlp, _ = train("BIO", steps=5)
    tagger = nlp.get_pipe("clinical_tagger")
    assert tagger.continue_threshold is None  # default: the same as the threshold
    with pytest.raises(ValueError):
        tagger.continue_threshold = 1.5
    with pytest.raises(ValueError, match="Doenca"):
        tagger.continue_threshold = {"Doenca": 0.3}
    tagger.continue_threshold = {"Problema": 0.2, "Anatomia": 0.4}
    nlp.to_disk(tmp_path / "pipeline")
    assert spacy.load(tmp_path / "pipeline").get_pipe("clinical_tagger").continue_threshold == {
        "Problema": 0.2, "Anatomia": 0.4,
    }


SUGGESTER = {"@misc": "spacy_clinical_pt.tagger_suggester.v1"}


def suggest(docs, **settings):
    """The (start, end) proposals of `spacy_clinical_pt.tagger_suggester.v1` for each doc, and the Ragged."""
    suggester = spacy.registry.misc.get(SUGGESTER["@misc"])(**settings)
    ragged = suggester(docs, ops=NumpyOps())
    assert ragged.dataXd.dtype == numpy.int32 and ragged.lengths.tolist() == [r.dataXd.shape[0] for r in ragged]
    return [[tuple(pair) for pair in r.dataXd.tolist()] for r in ragged], ragged


def test_suggester_proposes_spans_from_the_tagger_probabilities(trained):
    nlp, _ = trained
    doc = nlp(NOTES[0][0])
    (proposed,), _ = suggest([doc])
    assert len(proposed) == len(set(proposed))  # one candidate per boundaries, whatever the labels
    assert {(s, e) for s, e, _ in NOTES[0][1]} <= set(proposed)  # the learnt spans are among the proposals
    assert len(proposed) > len(doc.spans["sc"])  # ... with more: near misses for the classifier to reject
    assert doc._.clinical_columns == nlp.get_pipe("clinical_tagger").columns


def test_suggester_proposes_what_the_tagger_wrote_to_sc_candidates_before(trained):
    """At b37d0fb the tagger wrote `candidate_spans(doc._.clinical_probs, labels, scheme, 0.05, 24, 1, whitespace)`
    to doc.spans["sc_candidates"] and spancat read them back (preset suggester): the suggester gives the same
    spans in the same order, so the two-stage pipeline trains and predicts on the same candidates."""
    nlp, _ = trained
    tagger = nlp.get_pipe("clinical_tagger")
    docs = list(nlp.pipe([text for text, _ in NOTES] + ["Dor\n\nno peito .", ""]))
    old = [
        [(s.start, s.end) for s in candidate_spans(
            doc._.clinical_probs, tagger.labels, tagger.scheme, 0.05, 24, 1, whitespace_tokens(doc)
        )]
        for doc in docs
    ]
    proposed, ragged = suggest(docs, threshold=0.05, max_length=24, widen=1)
    assert proposed == old and sum(map(len, old)) > len(docs)
    assert ragged.lengths.tolist()[-1] == 0
    # Hand-made BIOE probabilities: a Problema over tokens 0-2 and a whitespace token 3.
    doc = spacy.blank("pt").make_doc("dor no peito \n\n febre")
    doc._.clinical_columns = ["B-Problema", "I-Problema", "E-Problema"]
    doc._.clinical_probs = numpy.array(
        [[0.9, 0.1, 0.1], [0.1, 0.8, 0.3], [0.1, 0.9, 0.7], [0.1, 0.6, 0.1], [0.6, 0.1, 0.6]], dtype="float32"
    )
    assert doc[3].is_space
    (hand,), _ = suggest([doc], threshold=0.2, max_length=4, widen=1)
    # B at 0 closes on the E of 1 and of 2; widened by one token; none starts or ends on the whitespace token 3.
    assert hand == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (4, 5)]


def test_suggester_settings_and_missing_probabilities_are_clear_errors():
    build = spacy.registry.misc.get(SUGGESTER["@misc"])
    with pytest.raises(ValueError, match="threshold for candidates"):
        build(threshold=1)
    with pytest.raises(ValueError, match="max_length must be at least 1 and widen at least 0, got 0 and 1"):
        build(max_length=0)
    with pytest.raises(ValueError, match="got 24 and -1"):
        build(widen=-1)
    with pytest.raises(ValueError, match="no token probabilities.*annotating_components"):
        build()([spacy.blank("pt").make_doc("dor")])


def test_two_writers_of_one_spans_key_are_refused_at_initialize():
    nlp = spacy.blank("pt")
    nlp.add_pipe("clinical_tagger", config={"model": SMALL_TAGGER_MODEL})
    nlp.add_pipe("spancat", config={"suggester": SUGGESTER})
    data = examples(nlp)
    with pytest.raises(ValueError, match="doc.spans\\['sc'\\] is written by 'clinical_tagger' and 'spancat'"):
        nlp.initialize(lambda: data)
    nlp.get_pipe("clinical_tagger").cfg["store_spans"] = False  # the tagger only proposes: spancat alone writes
    nlp.initialize(lambda: data)


def test_a_tagger_saved_with_candidate_settings_is_refused_with_the_way_out(trained, tmp_path):
    """Pipelines saved before the suggester hold candidates_key & co. in clinical_tagger/cfg: refused, with what
    to edit (the weights stay valid), rather than loaded with a spancat whose candidates no longer come."""
    nlp, _ = trained
    nlp.to_disk(tmp_path / "pipeline")
    cfg_path = tmp_path / "pipeline" / "clinical_tagger" / "cfg"
    cfg = srsly.read_json(cfg_path)
    srsly.write_json(cfg_path, {**cfg, "candidates_key": "sc_candidates", "candidate_widen": 1})
    with pytest.raises(ValueError, match="saved with candidates_key, candidate_widen.*tagger_suggester.v1"):
        spacy.load(tmp_path / "pipeline")
    with pytest.raises(ConfigValidationError, match="candidates_key"):  # nor is the setting accepted any more
        spacy.blank("pt").add_pipe("clinical_tagger", config={"candidates_key": None})


@pytest.mark.parametrize("saved", [1.5, 0.0, {"Anatomia": 1.2}, {"Teste": 0.3}])
def test_a_saved_threshold_out_of_range_is_refused_at_load(trained, tmp_path, saved):
    """Mutation caught: `ClinicalTagger.from_disk` no longer checks the threshold of the saved cfg (the pipeline
    would load, then fail or decode nonsense at the first doc)."""
    nlp, _ = trained
    nlp.to_disk(tmp_path / "pipeline")
    cfg_path = tmp_path / "pipeline" / "clinical_tagger" / "cfg"
    srsly.write_json(cfg_path, {**srsly.read_json(cfg_path), "threshold": saved})
    with pytest.raises(ValueError, match="strictly between 0 and 1|unknown label.*'Teste'"):
        spacy.load(tmp_path / "pipeline")


def test_scorer_active_labels_without_component_labels_are_those_of_gold_or_predictions():
    """Mutation caught: the scorer's active-label rule (labels=() counts every label seen in gold OR predictions;
    a rule on gold only, or on predictions only, gives macro F1 0.5 instead of 1/3)."""
    # Tokens: Dor no peito ontem . ; Teste only in gold, Anatomia only predicted, Problema right.
    example = scored_example(
        "Dor no peito ontem .", [(0, 3, "Problema"), (3, 4, "Teste")], [(0, 3, "Problema"), (2, 3, "Anatomia")]
    )
    scores = clinical_tagger_score([example], labels=())
    assert sorted(scores["spans_sc_token_per_type"]) == ["Anatomia", "Problema", "Teste"]
    assert scores["spans_sc_token_macro_f"] == pytest.approx(1 / 3)
    assert scores["spans_sc_token_micro_p"] == pytest.approx(0.75) and scores["spans_sc_token_micro_r"] == 0.75
    # Given labels are the active ones, whatever the data holds: Teste and Anatomia left out, Problema alone.
    assert clinical_tagger_score([example], labels=["Problema"])["spans_sc_token_macro_f"] == 1.0


def old_loss(weights, x, y):
    """The loss and gradient of `ClinicalTagger.get_loss` at b37d0fb (numpy and scipy on the host)."""
    s = expit(x)
    elements = weights * y * numpy.logaddexp(0.0, -x) + (1.0 - y) * numpy.logaddexp(0.0, x)
    n = max(x.size, 1)
    return float(elements.sum() / n), ((1.0 - y) * s - weights * y * (1.0 - s)) / n


def test_loss_and_probabilities_through_ops_equal_the_host_computation():
    nlp, _ = train("BIO", steps=0, class_weighting="none")
    tagger = nlp.get_pipe("clinical_tagger")
    assert isinstance(tagger.model.ops, NumpyOps)
    tagger.cfg["class_weights"] = {c: w for c, w in zip(tagger.columns, [1.0, 2.5, 4.0, 1.0])}
    data = examples(nlp)
    rng = numpy.random.default_rng(1)
    logits = [(rng.normal(size=(len(eg.predicted), 4)) * 6).astype("float32") for eg in data]
    logits[0][0] = [-120.0, 120.0, -30.0, 0.0]  # far beyond where 1 / (1 + exp(-x)) overflows
    loss, grads = tagger.get_loss(data, logits)
    y = numpy.concatenate([encode(tagger._gold_spans(eg), len(eg.predicted), LABELS, "BIO") for eg in data])
    weights = numpy.asarray([1.0, 2.5, 4.0, 1.0], dtype="float32")
    expected_loss, expected_grad = old_loss(weights, numpy.concatenate(logits), y)
    # Bit for bit on the CPU: the same function in the same order, so training follows the same curve as before.
    assert loss == expected_loss
    numpy.testing.assert_array_equal(numpy.concatenate(grads), expected_grad.astype("float32"))
    assert all(isinstance(g, numpy.ndarray) and g.dtype == numpy.float32 for g in grads)
    x = numpy.concatenate(logits)
    numpy.testing.assert_array_equal(sigmoid(tagger.model.ops, x), expit(x))


def test_tagger_proposes_and_spancat_decides_trained_together(tmp_path):
    """The two-stage pipeline of configs/cnn_tagger_spancat.cfg in miniature: one shared tok2vec, the tagger
    annotating each batch with its probabilities, spancat learning on the proposals its suggester makes of them;
    both losses fall, spancat's output is the pipeline's, and it survives a save and reload."""
    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("pt")
    nlp.add_pipe("tok2vec", config={"model": SMALL_TAGGER_MODEL["tok2vec"]})
    listener = {"@architectures": "spacy.Tok2VecListener.v1", "width": 32, "upstream": "tok2vec"}
    nlp.add_pipe(
        "clinical_tagger",
        config={"scheme": "BIOE", "store_spans": False,
                "model": {"@architectures": "spacy_clinical_pt.MultilabelTokenTagger.v1", "tok2vec": listener}},
    )
    nlp.add_pipe(
        "spancat",
        config={
            "max_positive": None,
            "suggester": SUGGESTER,
            "model": {
                "@architectures": "spacy.SpanCategorizer.v1",
                "tok2vec": listener,
                "reducer": {"@layers": "spacy.mean_max_reducer.v1", "hidden_size": 32},
                "scorer": {"@layers": "spacy.LinearLogistic.v1"},
            },
        },
    )
    data = examples(nlp)
    optimizer = nlp.initialize(lambda: data)
    optimizer.learn_rate = 0.01
    losses = []
    for _ in range(40):
        for eg in data:
            eg.predicted = nlp.make_doc(eg.predicted.text)  # spacy train starts each epoch from fresh docs
        losses.append(nlp.update(data, sgd=optimizer, annotates=["tok2vec", "clinical_tagger"]))
    assert losses[-1]["clinical_tagger"] < 0.2 * losses[1]["clinical_tagger"]
    assert losses[-1]["spancat"] < 0.2 * losses[1]["spancat"]
    texts = [text for text, _ in NOTES]
    predicted = [spans_of(doc) for doc in nlp.pipe(texts)]
    assert predicted == [sorted(gold) for _, gold in NOTES]
    doc = nlp(texts[0])
    (proposed,), _ = suggest([doc])
    assert set(spans_of(doc)) <= {(start, end, label) for start, end in proposed for label in LABELS}
    nlp.to_disk(tmp_path / "two_stage")
    assert [spans_of(doc) for doc in spacy.load(tmp_path / "two_stage").pipe(texts)] == predicted
