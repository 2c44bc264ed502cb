"""The wordpiece-budget span getter: windows never exceed the budget, and every token is in a window."""

from __future__ import annotations

import logging
import random

import pytest
from spacy_transformers.span_getters import get_strided_spans
from spacy_transformers.util import registry as trf_registry
from spacy_clinical_pt.tiny_models import CLINICAL_SENTENCES, KINDS, tiny_model_dir

from spacy_clinical_pt.span_getters import WordpieceBudgetSpans, configure_wordpiece_budget_spans

BUDGET = 510


def rare_word_note(nlp, n_words: int, seed: int = 0):
    """A note of made-up words (random letters, digits, accents): each splits into many wordpieces."""
    rng = random.Random(seed)
    # Letters the tiny tokenizers have seen in that position: WordPiece splits an unseen word into its letters
    # ("x", "##q", "##z"...), but collapses a word holding a letter it never saw into a single [UNK].
    seen = [w for sentence in CLINICAL_SENTENCES for w in sentence.split() if w.isalpha()]
    initials = sorted({w[0] for w in seen})
    inner = sorted({c for w in seen for c in w[1:]})
    words = [rng.choice(initials) + "".join(rng.choices(inner, k=rng.randint(5, 13))) for _ in range(n_words)]
    # Some punctuation and line breaks, as in real notes, so spaCy splits tokens of different shapes.
    text = " ".join(w + (".\n" if i % 17 == 16 else "") for i, w in enumerate(words))
    return nlp(text)


def wordpieces(tokenizer, span) -> int:
    return len(tokenizer(span.text, add_special_tokens=False)["input_ids"])


def assert_covers(doc, windows):
    """Windows are in order, contiguous or overlapping, and together hold every token of the doc."""
    assert windows[0].start == 0
    assert windows[-1].end == len(doc)
    for previous, current in zip(windows, windows[1:]):
        assert previous.start < current.start <= previous.end, "a gap or a window out of order"
    covered = set()
    for window in windows:
        covered.update(range(window.start, window.end))
    assert covered == set(range(len(doc)))


@pytest.mark.parametrize("kind", KINDS)
def test_windows_respect_the_budget_exactly(nlp, kind):
    from transformers import AutoTokenizer

    path = str(tiny_model_dir(kind))
    tokenizer = AutoTokenizer.from_pretrained(path)
    doc = rare_word_note(nlp, 600)
    # The test note is meaningful only if spaCy's token-counting windows overflow it.
    strided = get_strided_spans([doc], window=128, stride=96)[0]
    assert max(wordpieces(tokenizer, w) for w in strided) > BUDGET

    getter = configure_wordpiece_budget_spans(window=128, stride=96, max_wordpieces=BUDGET, tokenizer=path)
    windows = getter([doc])[0]
    counts = [wordpieces(tokenizer, w) for w in windows]
    assert max(counts) <= BUDGET
    # Exact counting fills windows nearly to the budget (a byte bound would stop far below it).
    assert sum(counts[:-1]) / (len(counts) - 1) > 0.8 * BUDGET
    # With [CLS]/[SEP], no window reaches spacy-transformers' truncation at model_max_length.
    with_specials = [len(tokenizer(w.text)["input_ids"]) for w in windows]
    assert max(with_specials) <= tokenizer.model_max_length == 512
    assert all(len(w) <= 128 for w in windows)
    assert_covers(doc, windows)


@pytest.mark.parametrize("kind", KINDS)
def test_byte_bound_holds_for_every_tokenizer(nlp, kind):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir(kind)))
    doc = rare_word_note(nlp, 300, seed=1)
    windows = configure_wordpiece_budget_spans(window=128, stride=96, max_wordpieces=BUDGET)([doc])[0]
    assert max(wordpieces(tokenizer, w) for w in windows) <= BUDGET
    assert max(len(w.text.encode("utf8")) + 1 for w in windows) <= BUDGET
    assert_covers(doc, windows)


def test_short_notes_keep_spacy_strided_windows(nlp):
    """Where the budget is not binding, the windows are exactly spaCy's strided spans."""
    doc = nlp(" ".join(["febre"] * 300))
    ours = configure_wordpiece_budget_spans(window=40, stride=30, max_wordpieces=BUDGET)([doc])[0]
    theirs = get_strided_spans([doc], window=40, stride=30)[0]
    assert [(w.start, w.end) for w in ours] == [(w.start, w.end) for w in theirs]


@pytest.mark.parametrize("window,stride,budget", [(10, 5, 20), (7, 7, 30), (50, 1, 40), (3, 2, 1)])
def test_every_token_is_covered_for_any_settings(nlp, window, stride, budget):
    doc = rare_word_note(nlp, 120, seed=window)
    windows = configure_wordpiece_budget_spans(window=window, stride=stride, max_wordpieces=budget)([doc])[0]
    assert_covers(doc, windows)
    assert all(len(w) <= window for w in windows)


def test_token_longer_than_the_budget_gets_its_own_window_and_a_warning(nlp, caplog):
    path = str(tiny_model_dir("bert"))
    long_token = "qxz" * 30  # one spaCy token of 90 wordpieces (WordPiece gives [UNK] past 100 characters)
    doc = nlp(f"Paciente com {long_token} no prontuário.")
    getter = configure_wordpiece_budget_spans(window=8, stride=6, max_wordpieces=30, tokenizer=path)
    with caplog.at_level(logging.WARNING, logger="spacy_clinical_pt.span_getters"):
        windows = getter([doc])[0]
    index = next(t.i for t in doc if t.text == long_token)
    assert (index, index + 1) in [(w.start, w.end) for w in windows]
    assert_covers(doc, windows)
    assert f"character offset {doc[index].idx}" in caplog.text
    assert long_token not in caplog.text  # no clinical text in logs


def test_empty_docs_and_batches(nlp):
    getter = configure_wordpiece_budget_spans()
    docs = [nlp(""), nlp("Dor torácica."), nlp("")]
    windows = getter(docs)
    assert [len(w) for w in windows] == [0, 1, 0]
    assert windows[1][0].text == "Dor torácica."


def test_unloadable_tokenizer_falls_back_to_the_byte_bound(nlp, caplog, tmp_path):
    missing = str(tmp_path / "none")
    getter = configure_wordpiece_budget_spans(window=128, stride=96, max_wordpieces=60, tokenizer=missing)
    doc = rare_word_note(nlp, 80)
    with caplog.at_level(logging.WARNING, logger="spacy_clinical_pt.span_getters"):
        windows = getter([doc])[0]
    assert "byte bound" in caplog.text
    assert max(len(w.text.encode("utf8")) + 1 for w in windows) <= 60
    assert_covers(doc, windows)


@pytest.mark.parametrize("window,stride", [(0, 1), (10, 11), (10, 0)])
def test_bad_settings_are_refused(window, stride):
    with pytest.raises(ValueError, match="stride"):
        WordpieceBudgetSpans(window=window, stride=stride, max_wordpieces=10)


def test_registered_for_configs():
    """spacy-transformers finds the getter by name (entry point `spacy_span_getters`), as configs use it."""
    factory = trf_registry.span_getters.get("spacy_clinical_pt.wordpiece_budget_spans.v1")
    getter = factory(window=64, stride=48, max_wordpieces=200)
    assert (getter.window, getter.stride, getter.max_wordpieces, getter.tokenizer_name) == (64, 48, 200, None)


def test_pickles_without_the_tokenizer_and_windows_the_same(nlp):
    import pickle

    path = str(tiny_model_dir("mmbert"))
    getter = configure_wordpiece_budget_spans(window=64, stride=48, max_wordpieces=100, tokenizer=path)
    doc = rare_word_note(nlp, 200, seed=3)
    before = [(w.start, w.end) for w in getter([doc])[0]]
    copy = pickle.loads(pickle.dumps(getter))
    assert copy._tokenizer is None and copy.tokenizer_name == getter.tokenizer_name
    assert [(w.start, w.end) for w in copy([doc])[0]] == before
