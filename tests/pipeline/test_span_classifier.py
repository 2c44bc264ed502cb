"""`clinical_spancat`: spaCy's spancat with class weights for the positives, a focal loss and per-label thresholds."""

import numpy
import pytest
import spacy
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import fix_random_seed

from spacy_clinical_pt.span_classifier import ClinicalSpanCategorizer, label_weights
from spacy_clinical_pt.thresholds import Thresholds

WORDS = "Dor no peito e febre alta com gene BRCA1".split()


def example(nlp, spans):
    """An Example over WORDS with gold spans (start, end, label) in doc.spans["sc"]."""
    gold = Doc(nlp.vocab, words=WORDS)
    gold.spans["sc"] = [gold.char_span(gold[s:e].start_char, gold[s:e].end_char, label=label) for s, e, label in spans]
    return Example(Doc(nlp.vocab, words=WORDS), gold)


GOLD = [(0, 3, "Problema"), (2, 3, "Anatomia"), (4, 6, "Problema"), (8, 9, "Gene")]


def pipeline(factory="clinical_spancat", **config):
    """A blank pipeline with one span classifier on 1- to 3-grams, initialised on 3 copies of the gold example."""
    fix_random_seed(0)
    nlp = spacy.blank("pt")
    nlp.add_pipe(factory, config={"suggester": {"@misc": "spacy.ngram_suggester.v1", "sizes": [1, 2, 3]}, **config})
    examples = [example(nlp, GOLD) for _ in range(3)]
    nlp.initialize(lambda: examples)
    return nlp, examples


def test_label_weights_are_the_most_frequent_count_over_the_label_count_to_the_power():
    weights = label_weights({"Problema": 100, "Anatomia": 25, "Gene": 4}, ["Anatomia", "Gene", "Problema", "Raro"], 0.5)
    assert weights == {"Anatomia": 2.0, "Gene": 5.0, "Problema": 1.0, "Raro": 10.0}
    assert label_weights({"Problema": 100, "Gene": 4}, ["Gene"], 1.0) == {"Gene": 25.0}


def test_initialize_weights_each_label_by_its_entity_count():
    nlp, _ = pipeline(class_weighting="inverse_label_freq", class_weight_power=1.0)
    # Over 3 examples: Problema 6, Anatomia 3, Gene 3.
    assert nlp.get_pipe("clinical_spancat").cfg["label_weights"] == {"Anatomia": 2.0, "Gene": 2.0, "Problema": 1.0}
    unweighted, _ = pipeline()
    assert unweighted.get_pipe("clinical_spancat").cfg["label_weights"] == {}


def loss_and_gradient(nlp, examples):
    """The classifier's loss and gradient for fixed scores over its candidates, and its candidates and scores."""
    pipe = next(p for _, p in nlp.pipeline)
    spans = pipe.suggester([eg.predicted for eg in examples], ops=pipe.model.ops)
    rng = numpy.random.default_rng(0)
    scores = rng.random((spans.dataXd.shape[0], len(pipe.labels))).astype("float32")
    loss, gradient = pipe.get_loss(examples, (spans, scores))
    return loss, numpy.asarray(gradient), scores, spans


def test_without_weights_or_focal_loss_the_loss_is_spancats():
    ours, examples = pipeline()
    theirs, _ = pipeline(factory="spancat")
    loss, gradient, _, _ = loss_and_gradient(ours, examples)
    their_loss, their_gradient, _, _ = loss_and_gradient(theirs, examples)
    assert loss == pytest.approx(their_loss)
    numpy.testing.assert_array_equal(gradient, their_gradient)


def test_weights_multiply_the_gradient_of_gold_spans_of_their_label_only():
    nlp, examples = pipeline(class_weighting="inverse_label_freq", class_weight_power=1.0)
    plain, _ = pipeline(factory="spancat")
    _, gradient, scores, spans = loss_and_gradient(nlp, examples)
    _, plain_gradient, _, _ = loss_and_gradient(plain, examples)
    pipe = nlp.get_pipe("clinical_spancat")
    labels = list(pipe.labels)
    candidates = [tuple(row) for row in spans.dataXd.tolist()]
    gene_row = candidates.index((8, 9))
    gene = labels.index("Gene")
    # A gold Gene span: its Gene gradient (score - 1) doubled; its other labels' gradients (negatives) as spancat's.
    assert gradient[gene_row, gene] == pytest.approx(2.0 * (scores[gene_row, gene] - 1.0))
    others = [k for k in range(len(labels)) if k != gene]
    numpy.testing.assert_allclose(gradient[gene_row, others], plain_gradient[gene_row, others])
    # Problema (the most frequent label) keeps weight 1 on its gold spans.
    problema_row, problema = candidates.index((0, 3)), labels.index("Problema")
    assert gradient[problema_row, problema] == pytest.approx(scores[problema_row, problema] - 1.0)
    # Nothing changes where no gold span is.
    empty_row = candidates.index((5, 8))
    numpy.testing.assert_allclose(gradient[empty_row], plain_gradient[empty_row])


def test_focal_loss_multiplies_each_gradient_by_its_size_to_the_power_gamma():
    nlp, examples = pipeline(focal_gamma=2.0)
    plain, _ = pipeline(factory="spancat")
    loss, gradient, _, _ = loss_and_gradient(nlp, examples)
    _, plain_gradient, _, _ = loss_and_gradient(plain, examples)
    numpy.testing.assert_allclose(gradient, plain_gradient * numpy.abs(plain_gradient) ** 2, rtol=1e-6)
    assert loss == pytest.approx(float((numpy.abs(plain_gradient) ** 4).sum()), rel=1e-5)


def decided(nlp, threshold, max_positive=None):
    """The (start, end, label) spans the classifier keeps for fixed scores, at `threshold`."""
    pipe = next(p for _, p in nlp.pipeline)
    pipe.cfg["threshold"] = threshold
    pipe.cfg["max_positive"] = max_positive
    doc = nlp.make_doc(" ".join(WORDS))
    spans = pipe.suggester([doc], ops=pipe.model.ops)
    scores = numpy.random.default_rng(1).random((spans.dataXd.shape[0], len(pipe.labels))).astype("float32")
    pipe.set_annotations([doc], (spans, scores))
    group = doc.spans["sc"]
    return [(s.start, s.end, s.label_) for s in group], list(group.attrs["scores"])


@pytest.mark.parametrize("max_positive", [None, 1, 2])
def test_a_shared_threshold_decides_as_spancat_does(max_positive):
    ours, _ = pipeline()
    theirs, _ = pipeline(factory="spancat")
    assert decided(ours, 0.6, max_positive) == decided(theirs, 0.6, max_positive)


def test_per_label_thresholds_keep_each_label_above_its_own():
    ours, _ = pipeline()
    theirs, _ = pipeline(factory="spancat")
    per_label, _ = decided(ours, {"Gene": 0.05, "Problema": 0.9})  # Anatomia left out: 0.5
    expected = (
        [s for s in decided(theirs, 0.05)[0] if s[2] == "Gene"]
        + [s for s in decided(theirs, 0.9)[0] if s[2] == "Problema"]
        + [s for s in decided(theirs, 0.5)[0] if s[2] == "Anatomia"]
    )
    assert sorted(per_label) == sorted(expected)
    assert any(s[2] == "Gene" for s in per_label)


def test_weights_and_per_label_thresholds_survive_saving_and_loading(tmp_path):
    nlp, _ = pipeline(class_weighting="inverse_label_freq", focal_gamma=1.0)
    pipe = nlp.get_pipe("clinical_spancat")
    pipe.threshold = {"Gene": 0.01, "Problema": 0.7}
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p").get_pipe("clinical_spancat")
    assert isinstance(loaded, ClinicalSpanCategorizer)
    assert loaded.threshold == pytest.approx({"Gene": 0.01, "Problema": 0.7})
    assert pipe.cfg["label_weights"] != {}
    assert loaded.cfg["label_weights"] == pytest.approx(pipe.cfg["label_weights"])  # JSON keeps 10 digits
    assert loaded.cfg["focal_gamma"] == 1.0


def test_bad_settings_are_refused_with_what_is_wrong():
    nlp = spacy.blank("pt")
    with pytest.raises(ValueError, match="class_weighting must be one of none, inverse_label_freq, not 'inverse'"):
        nlp.add_pipe("clinical_spancat", config={"class_weighting": "inverse"})
    with pytest.raises(ValueError, match="strictly between 0 and 1, got 1.5"):
        spacy.blank("pt").add_pipe("clinical_spancat", config={"threshold": 1.5})
    with pytest.raises(ValueError, match="focal_gamma must be >= 0"):
        spacy.blank("pt").add_pipe("clinical_spancat", config={"focal_gamma": -1.0})
    trained, _ = pipeline()
    with pytest.raises(ValueError, match="unknown label.*'Medicamento'"):
        trained.get_pipe("clinical_spancat").threshold = {"Medicamento": 0.3}


def test_thresholds_apply_per_label_to_a_clinical_spancat_and_refuse_them_for_spancat():
    ours, _ = pipeline()
    assert Thresholds({"Gene": 0.02}).apply_to(ours) == "clinical_spancat"
    assert ours.get_pipe("clinical_spancat").threshold == {"Gene": 0.02}
    with pytest.raises(ValueError, match="one threshold per label on span scores: continuation thresholds"):
        Thresholds(0.3, 0.2).apply_to(ours)
    theirs, _ = pipeline(factory="spancat")
    with pytest.raises(ValueError, match="one shared threshold on span scores: per-label and continuation"):
        Thresholds({"Gene": 0.02}).apply_to(theirs)


def rare_label_score(nlp, examples, steps=30):
    """The classifier's Gene score on the gold Gene span after `steps` updates."""
    optimizer = nlp.resume_training()
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer)
    pipe = next(p for _, p in nlp.pipeline)
    doc = nlp.make_doc(" ".join(WORDS))
    spans = pipe.suggester([doc], ops=pipe.model.ops)
    scores = pipe.model.predict(([doc], spans))
    row = [tuple(r) for r in spans.dataXd.tolist()].index((8, 9))
    return float(scores[row, list(pipe.labels).index("Gene")])


def test_class_weights_raise_a_rare_labels_score_over_the_same_updates():
    # Gene: one span in 10 notes that hold 20 Problema spans each way: it is the rare label.
    weighted, examples = pipeline(class_weighting="inverse_label_freq", class_weight_power=1.0)
    rare = [example(weighted, [(0, 3, "Problema"), (4, 6, "Problema")]) for _ in range(9)] + examples[:1]
    weighted.initialize(lambda: rare)
    plain, _ = pipeline()
    plain.initialize(lambda: rare)
    assert weighted.get_pipe("clinical_spancat").cfg["label_weights"]["Gene"] > 10
    assert rare_label_score(weighted, rare) > rare_label_score(plain, rare) + 0.1
