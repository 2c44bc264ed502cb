"""Continue training a trained `clinical_tagger` on a corpus with labels it lacks: its output layer grows.

`spacy train` never initializes a sourced component: sourced components that are not frozen are "resumed"
(`nlp.resume_training`) and left out of `nlp.initialize` (spacy/training/initialize.py, `init_nlp`). A sourced
tagger would keep its labels, and the spans of the new corpus's other labels would be ignored without a word
(`schemes.encode` only encodes the tagger's labels). The callback `spacy_clinical_pt.grow_labels.v1`, in
`[initialize.after_init]` (configs/continue_cnn.cfg), grows the sourced tagger from the training corpus once
the pipeline is initialized, before the first update:

- the corpus's labels that the tagger lacks are appended after the old ones (sorted), with their columns;
- the output layer gains their rows of W and b, initialized as the layer initializes a fresh one (its own init:
  zeros in `MultilabelTokenTagger.v1`); the old columns' rows are copied back unchanged, so the old labels
  predict exactly what they predicted before;
- class weights are recomputed on the corpus for the columns it holds; a column it never holds (a label of the
  old corpus absent from the new one) keeps its old weight: that weight only multiplies positives, and the new
  corpus has none, so it does not change the loss here and is kept for later;
- labels of the old corpus absent from the new one are KEPT (their columns learn "no" on the new corpus, and
  keep proposing spans to the span classifier, which is trained on the new corpus's labels only).
The cfg (`labels`, `class_weights`) is updated, so the grown tagger saves and loads as any other.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, List

from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry
from wasabi import msg

from .schemes import columns
from .weights import class_weights, format_weights

TAGGER_FACTORY = "clinical_tagger"


def corpus_labels(docs: Iterable[Doc], spans_key: str) -> list[str]:
    """The labels of the gold spans under `doc.spans[spans_key]`, sorted."""
    return sorted({span.label_ for doc in docs for span in doc.spans.get(spans_key, [])})


def grow_output_layer(layer: Any, old_columns: List[str], new_columns: List[str]) -> None:
    """Resize a trained thinc `Linear` layer from `old_columns` to `new_columns` output rows, in place.

    layer: the layer, with W of shape (len(old_columns), nI) and b of shape (len(old_columns),).
    old_columns, new_columns: the column names before and after; every old column must be among the new ones.
    The layer is initialized afresh at the new size (its own init function), then each old column's row of W
    and b is copied to that column's new position.
    """
    missing = sorted(set(old_columns) - set(new_columns))
    if missing:
        raise ValueError(f"growing the output layer would drop the column(s) {', '.join(missing)}")
    old_W, old_b = layer.get_param("W").copy(), layer.get_param("b").copy()
    if old_W.shape[0] != len(old_columns):
        raise ValueError(f"the output layer has {old_W.shape[0]} rows for {len(old_columns)} columns")
    layer.set_param("W", None)
    layer.set_param("b", None)
    layer.set_dim("nO", len(new_columns), force=True)
    layer.initialize()
    W, b = layer.get_param("W"), layer.get_param("b")
    rows = [new_columns.index(name) for name in old_columns]
    W[rows] = old_W
    b[rows] = old_b
    layer.set_param("W", W)
    layer.set_param("b", b)


def grow_labels(tagger: Any, docs: List[Doc]) -> list[str]:
    """Add to a trained `ClinicalTagger` the labels of `docs` it lacks, growing its output layer.

    tagger: the component, initialized (trained or loaded).
    docs: the gold training docs of the new corpus, spans under `doc.spans[tagger.key]`.
    RETURNS: the labels added, in column order (empty: nothing changed but the class weights).
    """
    if not docs:
        raise ValueError(f"{tagger.name}: cannot grow the labels from an empty training corpus")
    new_corpus = corpus_labels(docs, tagger.key)
    if not new_corpus:
        raise ValueError(f"{tagger.name}: the training docs hold no spans under doc.spans[{tagger.key!r}]")
    old_labels, old_columns = list(tagger.labels), list(tagger.columns)
    added = [label for label in new_corpus if label not in old_labels]
    labels = old_labels + added
    if added:
        grow_output_layer(tagger.model.get_ref("output_layer"), old_columns, columns(labels, tagger.scheme))
        for label in added:
            tagger.vocab.strings.add(label)
        tagger.cfg["labels"] = labels
    # Only the corpus's labels: the columns of the others keep their weights (see the top of this module).
    recomputed = class_weights(docs, new_corpus, tagger.scheme, tagger.cfg["class_weighting"], spans_key=tagger.key)
    old_weights = tagger.cfg["class_weights"]
    tagger.cfg["class_weights"] = {name: recomputed.get(name, old_weights.get(name, 1.0)) for name in tagger.columns}
    return added


def check_listener_widths(nlp: Language) -> None:
    """Raise a ValueError naming the setting to change when a listener's width differs from its tok2vec's.

    A fresh component listening to a sourced tok2vec is configured with a width the config cannot read from the
    sourced component; a wrong one fails only at the first update, as a shape mismatch deep in thinc.
    """
    for name, component in nlp.components:  # the sourced tok2vec is disabled while the others initialize
        if not hasattr(component, "listener_map") or not component.model.has_dim("nO"):
            continue
        width = component.model.get_dim("nO")
        for listener_name, listeners in component.listener_map.items():
            for listener in listeners:
                if listener.has_dim("nO") and listener.get_dim("nO") != width:
                    raise ValueError(
                        f"{listener_name} listens to {name} with width {listener.get_dim('nO')}, but {name} gives "
                        f"{width}: set the width of {listener_name}'s Tok2VecListener to {width} "
                        f"(e.g. --components.{listener_name}.model.tok2vec.width {width})"
                    )


@registry.callbacks("spacy_clinical_pt.grow_labels.v1")
def make_grow_labels(
    corpus: Callable[[Language], Iterable[Example]], components: List[str] = [TAGGER_FACTORY]
) -> Callable[[Language], Language]:
    """An `[initialize.after_init]` callback: grow the sourced taggers `components` on the corpus's labels (and
    check that each listener's width matches its tok2vec's, `check_listener_widths`).

    corpus: the training corpus reader (`corpus = ${corpora.train}`), read once for the gold docs.
    components: the names of the `clinical_tagger` components to grow.
    RETURNS: the callback, which changes the pipeline in place and returns it.
    """

    def grow_sourced_labels(nlp: Language) -> Language:
        check_listener_widths(nlp)
        docs = [eg.reference for eg in corpus(nlp)]
        for name in components:
            if nlp.get_pipe_meta(name).factory != TAGGER_FACTORY:
                raise ValueError(f"{name} is not a {TAGGER_FACTORY} component: it cannot grow its labels")
            tagger = nlp.get_pipe(name)
            added = grow_labels(tagger, docs)
            msg.info(f"{name}: labels added {added or 'none'}; all labels {list(tagger.labels)}")
            msg.info(f"{name} class weights ({tagger.cfg['class_weighting']}): {format_weights(tagger.class_weights)}")
        return nlp

    return grow_sourced_labels
