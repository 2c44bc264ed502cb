"""The `clinical_tagger` component: multilabel token classification for nested and overlapping clinical entities.

Each token gets one independent sigmoid per output column (IO: one column per label; BIO: a `B-` and an `I-`
column per label; BIOE: `B-`, `I-` and an end column `E-` per label), so a token can be `Anatomia` and `Problema`
at once. Probabilities are decoded label by label into spans (`spacy_clinical_pt.schemes.decode`), which may
overlap across labels.

Where the output lives on a `Doc`:
- `doc.spans[spans_key]` (default "sc"; not with `store_spans = false`): the predicted spans, with
  `attrs["scores"]` (float32 array, one mean token probability per span, as spaCy's `spancat` stores its scores)
  and `attrs["columns"]` (the column names).
- `doc._.clinical_probs`: the token probabilities, numpy float32 of shape (n_tokens, n_columns). A `Doc`
  extension rather than `doc.tensor` (which the `tok2vec` component owns) so that threshold tuning and
  precision-recall curves read them without running the model again. Extension values live in
  `doc.user_data`, so they survive `nlp.pipe(n_process=...)`, `Doc.to_bytes` and a `DocBin` with user data.
  With several `clinical_tagger` components in one pipeline, the last one to run owns the extension.
  `doc._.clinical_columns` holds their column names.
- `doc.ents` (only with `store_ents = true`): the best non-overlapping subset of the spans (highest score
  first, then longest), for tools that only read `ents`.

A span classifier downstream (spaCy's `spancat`) takes its candidates from these probabilities through the
suggester `spacy_clinical_pt.tagger_suggester.v1` (`suggester.py`, configs/cnn_tagger_spancat.cfg); the tagger
then leaves `doc.spans[spans_key]` to it (`store_spans = false`): one writer per spans key, checked at
`initialize`.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.scorer import Scorer
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.util import registry
from spacy.vocab import Vocab
from thinc.api import Config, Model, Ops, Optimizer, set_dropout_rate
from thinc.types import Floats2d
from wasabi import msg

from .metrics import span_tuples, token_label_matrix, token_metrics, whitespace_tokens
from .schemes import check_scheme, columns, decode, encode
from .thresholds import DEFAULT_THRESHOLD, Thresholds, ThresholdValue
from .suggester import COLUMNS_EXTENSION, PROBS_EXTENSION, check_one_writer_per_key, check_retired_settings
from .weights import check_method, class_weights, format_weights

DEFAULT_MULTILABEL_MODEL_CONFIG = """
[model]
@architectures = "spacy_clinical_pt.MultilabelTokenTagger.v1"
nO = null

[model.tok2vec]
@architectures = "spacy.HashEmbedCNN.v2"
pretrained_vectors = null
width = 96
depth = 4
embed_size = 2000
window_size = 1
maxout_pieces = 3
subword_features = true
"""
DEFAULT_MULTILABEL_MODEL = Config().from_str(DEFAULT_MULTILABEL_MODEL_CONFIG)["model"]
DEFAULT_SPANS_KEY = "sc"


@Language.factory(
    "clinical_tagger",
    assigns=["doc.spans", "doc.ents", f"doc._.{PROBS_EXTENSION}", f"doc._.{COLUMNS_EXTENSION}"],
    default_config={
        "model": DEFAULT_MULTILABEL_MODEL,
        "spans_key": DEFAULT_SPANS_KEY,
        "scheme": "IO",
        "threshold": DEFAULT_THRESHOLD,
        "continue_threshold": None,
        "class_weighting": "inverse_doc_freq_clamped",
        "bio_start_on_orphan_i": False,
        "store_spans": True,
        "store_ents": False,
        "scorer": {"@scorers": "spacy_clinical_pt.clinical_tagger_scorer.v1"},
    },
    default_score_weights={
        "spans_sc_f": 1.0,
        "spans_sc_p": 0.0,
        "spans_sc_r": 0.0,
        "spans_sc_token_micro_f": 0.0,
        "spans_sc_token_macro_f": 0.0,
    },
)
def make_clinical_tagger(
    nlp: Language,
    name: str,
    model: Model[List[Doc], List[Floats2d]],
    spans_key: str,
    scheme: str,
    threshold: Union[float, Dict[str, float]],
    continue_threshold: Optional[Union[float, Dict[str, float]]],
    class_weighting: str,
    bio_start_on_orphan_i: bool,
    store_spans: bool,
    store_ents: bool,
    scorer: Optional[Callable],
) -> "ClinicalTagger":
    """Create a `ClinicalTagger`.

    model: a thinc model mapping docs to per-token logits, one (n_tokens, n_columns) array per doc.
    spans_key: the `doc.spans` key read for training and written at prediction.
    scheme: "IO", "BIO" or "BIOE" (BIO plus an end column: a span ends on its most probable `E`).
    threshold: a probability in (0, 1) shared by all labels, or a mapping label -> probability.
    continue_threshold: BIO/BIOE only: the probability an `I` needs to continue an open span (shared or per label);
        null: the same as `threshold`. See `schemes.decode`.
    class_weighting: "none", "inverse_doc_freq", "inverse_doc_freq_clamped" or "inverse_token_freq".
    bio_start_on_orphan_i: BIO decoding: an `I` that follows no span starts one (default false).
    store_spans: write the decoded spans to `doc.spans[spans_key]`; false where a span classifier downstream
        writes them from this tagger's proposals (`spacy_clinical_pt.tagger_suggester.v1`).
    store_ents: also write the best non-overlapping spans to `doc.ents`.
    scorer: the scoring function (span P/R/F plus token-level micro and macro F1 of `doc.spans[spans_key]`).
    """
    return ClinicalTagger(
        nlp.vocab,
        model,
        name,
        spans_key=spans_key,
        scheme=scheme,
        threshold=threshold,
        continue_threshold=continue_threshold,
        class_weighting=class_weighting,
        bio_start_on_orphan_i=bio_start_on_orphan_i,
        store_spans=store_spans,
        store_ents=store_ents,
        scorer=scorer,
    )


def clinical_tagger_score(
    examples: Iterable[Example], *, spans_key: str = DEFAULT_SPANS_KEY, labels: Sequence[str] = (), **kwargs: Any
) -> Dict[str, Any]:
    """Score predicted spans: spaCy's exact span P/R/F and the paper's token-level micro and macro F1.

    examples: predicted docs (`eg.predicted`) with gold references (`eg.reference`).
    spans_key: the `doc.spans` key of both.
    labels: the labels scored at token level (spaCy passes the component's); empty means every label seen in gold
        or predictions.
    RETURNS: `spans_<key>_p/_r/_f/_per_type` (exact span and label, overlaps allowed, as `spancat` scores) and
        `spans_<key>_token_micro_p/_r/_f`, `spans_<key>_token_macro_f`, `spans_<key>_token_per_type`: the paper's
        metrics computed as `evaluate` computes them (`metrics.token_metrics`: whitespace tokens left out, macro
        over every label, one without gold or predicted tokens counting 0). The token matrix is the IO one
        whatever the scheme (a token is positive for a label inside a span of it), so IO and BIO models compare
        on the same numbers. The threshold is the one the spans were decoded with.
    """
    examples = list(examples)
    attr = f"spans_{spans_key}"
    scores = Scorer.score_spans(
        examples,
        attr=attr,
        getter=lambda doc, _attr: doc.spans.get(spans_key, []),
        has_annotation=lambda doc: spans_key in doc.spans,
        allow_overlap=True,
    )
    scores.update(token_level_scores(examples, spans_key, labels, prefix=f"{attr}_token"))
    return scores


def token_level_scores(
    examples: Sequence[Example], spans_key: str, labels: Sequence[str], prefix: str
) -> Dict[str, Any]:
    """Token x label micro/macro precision, recall and F1 (see `clinical_tagger_score`)."""
    gold_spans = [
        eg.get_aligned_spans_y2x(eg.reference.spans.get(spans_key, []), allow_overlap=True) for eg in examples
    ]
    pred_spans = [list(eg.predicted.spans.get(spans_key, [])) for eg in examples]
    if not labels:
        labels = sorted({s.label_ for spans in gold_spans + pred_spans for s in spans})
    gold, pred = [], []
    for eg, doc_gold, doc_pred in zip(examples, gold_spans, pred_spans):
        space = whitespace_tokens(eg.predicted)
        gold.append(token_label_matrix(span_tuples(doc_gold), space, labels))
        pred.append(token_label_matrix(span_tuples(doc_pred), space, labels))
    empty = numpy.zeros((0, len(labels)), dtype=bool)
    scores = token_metrics(numpy.concatenate(gold or [empty]), numpy.concatenate(pred or [empty]), labels)
    micro = scores["micro"]
    return {
        f"{prefix}_micro_p": micro["precision"],
        f"{prefix}_micro_r": micro["recall"],
        f"{prefix}_micro_f": micro["f1"],
        f"{prefix}_macro_f": scores["macro"]["f1"],
        f"{prefix}_per_type": {
            label: {"p": s["precision"], "r": s["recall"], "f": s["f1"]} for label, s in scores["per_label"].items()
        },
    }


@registry.scorers("spacy_clinical_pt.clinical_tagger_scorer.v1")
def make_clinical_tagger_scorer() -> Callable[..., Dict[str, Any]]:
    """The registered scorer of `clinical_tagger` (see `clinical_tagger_score`)."""
    return clinical_tagger_score


class ClinicalTagger(TrainablePipe):
    """Multilabel token tagger: independent sigmoids per token and column, decoded into overlapping spans."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model[List[Doc], List[Floats2d]],
        name: str = "clinical_tagger",
        *,
        spans_key: str = DEFAULT_SPANS_KEY,
        scheme: str = "IO",
        threshold: ThresholdValue = DEFAULT_THRESHOLD,
        continue_threshold: Optional[ThresholdValue] = None,
        class_weighting: str = "inverse_doc_freq_clamped",
        bio_start_on_orphan_i: bool = False,
        store_spans: bool = True,
        store_ents: bool = False,
        scorer: Optional[Callable] = clinical_tagger_score,
    ) -> None:
        """See `make_clinical_tagger` for the arguments. Labels come at `initialize` (or `add_label`)."""
        check_scheme(scheme)
        check_method(class_weighting)
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {
            "labels": [],
            "spans_key": spans_key,
            "scheme": scheme,
            "threshold": Thresholds(threshold).to_cfg()["threshold"],
            "continue_threshold": None,
            "class_weighting": class_weighting,
            "class_weights": {},
            "bio_start_on_orphan_i": bool(bio_start_on_orphan_i),
            "store_spans": bool(store_spans),
            "store_ents": bool(store_ents),
        }
        self.continue_threshold = continue_threshold

    @property
    def key(self) -> str:
        """The `doc.spans` key read for training and written at prediction."""
        return str(self.cfg["spans_key"])

    @property
    def scheme(self) -> str:
        """The annotation scheme: "IO", "BIO" or "BIOE"."""
        return str(self.cfg["scheme"])

    @property
    def labels(self) -> Tuple[str, ...]:
        """The labels, in column order."""
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        """The labels, as `spacy init labels` stores them."""
        return list(self.labels)

    @property
    def columns(self) -> List[str]:
        """The output column names (`I-<label>`; `B-<label>`, `I-<label>` for BIO; and `E-<label>` for BIOE)."""
        return columns(self.labels, self.scheme)

    @property
    def class_weights(self) -> Dict[str, float]:
        """The positive weight of each column in the loss, computed at `initialize`."""
        return dict(self.cfg["class_weights"])

    @property
    def threshold(self) -> ThresholdValue:
        """The decoding threshold: a shared float or a label -> float mapping. Settable after training."""
        threshold = self.cfg["threshold"]
        return dict(threshold) if isinstance(threshold, dict) else threshold

    @threshold.setter
    def threshold(self, value: ThresholdValue) -> None:
        self.cfg["threshold"] = Thresholds(value).checked(self.labels or None).to_cfg()["threshold"]

    @property
    def continue_threshold(self) -> Optional[ThresholdValue]:
        """BIO/BIOE: the probability an `I` needs to continue an open span; None: `threshold`. Settable."""
        value = self.cfg.get("continue_threshold")
        return dict(value) if isinstance(value, dict) else value

    @continue_threshold.setter
    def continue_threshold(self, value: Optional[ThresholdValue]) -> None:
        checked = Thresholds(self.threshold, value).checked(self.labels or None)
        self.cfg["continue_threshold"] = checked.to_cfg()["continue_threshold"]

    def predict(self, docs: Iterable[Doc]) -> List[Floats2d]:
        """Token probabilities for a batch of docs, without modifying them.

        RETURNS: one float32 array per doc, shape (n_tokens, n_columns), on the model's device (`ops.xp`).
        """
        docs = list(docs)
        ops, n_columns = self.model.ops, len(self.columns)
        if not any(len(doc) for doc in docs):
            # Nothing to encode: spare the model a batch of empty docs.
            return [ops.alloc2f(len(doc), n_columns) for doc in docs]
        return [sigmoid(ops, ops.asarray2f(x)) for x in self.model.predict(docs)]

    def predict_proba(self, docs: Iterable[Doc]) -> List[numpy.ndarray]:
        """Token probabilities as numpy float32, shape (n_tokens, n_columns) per doc. After `nlp(text)`, read
        `doc._.clinical_probs` instead: it holds the same array without running the model again."""
        return [self.model.ops.to_numpy(x) for x in self.predict(docs)]

    def set_annotations(self, docs: Iterable[Doc], probs: List[Floats2d]) -> None:
        """Decode probabilities (one (n_tokens, n_columns) array per doc, on any device) into `doc.spans[key]`
        (with `store_spans`), `doc.ents` (with `store_ents`), and store them on the docs, copied to the host once
        per batch."""
        docs = list(docs)
        if not docs:
            return
        ops, names = self.model.ops, self.columns
        lengths = [len(doc) for doc in docs]
        host = ops.to_numpy(ops.flatten([ops.asarray2f(x) for x in probs], ndim_if_empty=2))
        host = host.reshape(-1, len(names)).astype("float32", copy=False)
        threshold, continue_threshold = self.threshold, self.continue_threshold
        for doc, doc_probs in zip(docs, numpy.split(host, numpy.cumsum(lengths)[:-1])):
            doc._.set(PROBS_EXTENSION, doc_probs)
            doc._.set(COLUMNS_EXTENSION, list(names))
            if not (self.cfg["store_spans"] or self.cfg["store_ents"]):
                continue
            decoded = decode(
                doc_probs, self.labels, self.scheme, threshold, self.cfg["bio_start_on_orphan_i"],
                whitespace_tokens(doc), continue_threshold,
            )
            spans = [Span(doc, s.start, s.end, label=s.label) for s in decoded]
            if self.cfg["store_spans"]:
                group = SpanGroup(doc, name=self.key, spans=spans)
                group.attrs["scores"] = numpy.asarray([s.score for s in decoded], dtype="float32")
                group.attrs["columns"] = list(names)
                doc.spans[self.key] = group
            if self.cfg["store_ents"]:
                doc.ents = best_non_overlapping(spans, [s.score for s in decoded])

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from a batch of examples: forward, loss on the logits, backward, optimizer step.

        RETURNS: `losses`, with this component's loss (mean BCE per token and column) added under its name.
        """
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "ClinicalTagger.update")
        if not any(len(eg.predicted) for eg in examples):
            return losses
        set_dropout_rate(self.model, drop)
        logits, backprop = self.model.begin_update([eg.predicted for eg in examples])
        loss, d_logits = self.get_loss(examples, logits)
        backprop(d_logits)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def get_loss(self, examples: Iterable[Example], logits: List[Floats2d]) -> Tuple[float, List[Floats2d]]:
        """Binary cross-entropy on the logits, with a positive weight per column, and its gradient.

        logits: one array per example, shape (n_tokens, n_columns).
        RETURNS: (mean loss, gradient w.r.t. the logits, one (n_tokens, n_columns) array per example).

        Per element, with x the logit, y the 0/1 target, w the column's positive weight and s = sigmoid(x):
        loss = w * y * softplus(-x) + (1 - y) * softplus(x); d loss / d x = (1 - y) * s - w * y * (1 - s).
        Both are averaged over the real tokens x columns of the batch (there is no padding here), as PyTorch's
        `BCEWithLogitsLoss` does in the paper: the step size does not depend on batch length or label count.
        """
        ops = self.model.ops
        xp = ops.xp
        labels, scheme = self.labels, self.scheme
        targets = [encode(self._gold_spans(eg), len(eg.predicted), labels, scheme) for eg in examples]
        lengths = [t.shape[0] for t in targets]
        x = ops.asarray2f(ops.flatten(list(logits), ndim_if_empty=2))
        y = ops.asarray2f(numpy.concatenate(targets, axis=0)) if targets else xp.zeros_like(x)
        if x.shape != y.shape:
            raise ValueError(f"logits of shape {x.shape} do not match targets of shape {y.shape}")
        weights = ops.asarray1f([self.cfg["class_weights"].get(c, 1.0) for c in self.columns])
        s = sigmoid(ops, x)
        elements = weights * y * xp.logaddexp(0.0, -x) + (1.0 - y) * xp.logaddexp(0.0, x)
        n = max(x.size, 1)
        d_x = ops.asarray2f(((1.0 - y) * s - weights * y * (1.0 - s)) / n)
        return float(elements.sum() / n), ops.unflatten(d_x, ops.asarray1i(lengths))

    def _gold_spans(self, eg: Example) -> List[Span]:
        """The reference spans mapped onto the predicted doc's tokens (overlaps kept)."""
        return eg.get_aligned_spans_y2x(eg.reference.spans.get(self.key, []), allow_overlap=True)

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[List[str]] = None,
    ) -> None:
        """Set the labels, compute the class weights from the training docs and initialize the model.

        get_examples: returns the training examples (labels come from `eg.reference.spans[spans_key]`).
        nlp: the pipeline, checked for two components writing one `doc.spans` key (`check_one_writer_per_key`).
        labels: the labels, e.g. from `[initialize.components.clinical_tagger]`; None reads them from the data.
        """
        validate_get_examples(get_examples, "ClinicalTagger.initialize")
        if nlp is not None:
            check_one_writer_per_key(nlp)
        examples = list(get_examples())
        if labels is not None:
            for label in labels:
                self.add_label(label)
        else:
            # Sorted, so the column order does not depend on which document comes first.
            for label in sorted({s.label_ for eg in examples for s in eg.reference.spans.get(self.key, [])}):
                self.add_label(label)
        if not self.labels:
            raise ValueError(
                f"{self.name}: no labels; the training docs hold no spans under doc.spans[{self.key!r}] and no "
                f"labels were given in [initialize.components.{self.name}]"
            )
        Thresholds.from_cfg(self.cfg).checked(self.labels)  # mapping keys, now that the labels are known
        self.cfg["class_weights"] = class_weights(
            [eg.reference for eg in examples], self.labels, self.scheme, self.cfg["class_weighting"], spans_key=self.key
        )
        msg.info(f"{self.name} class weights ({self.cfg['class_weighting']}): {format_weights(self.class_weights)}")
        n_columns = len(self.columns)
        output_layer = self.model.get_ref("output_layer")
        if output_layer.has_dim("nO") is True and output_layer.get_dim("nO") != n_columns:
            raise ValueError(
                f"{self.name}: the model has nO = {output_layer.get_dim('nO')} but {len(self.labels)} labels in "
                f"{self.scheme} need {n_columns} columns; leave nO = null in the config"
            )
        if output_layer.has_dim("nO") is not True:
            output_layer.set_dim("nO", n_columns)
        sample = [eg.predicted for eg in examples[:10]]
        if sample:
            self.model.initialize(X=sample, Y=[self.model.ops.alloc2f(len(doc), n_columns) for doc in sample])
        else:
            self.model.initialize()

    def add_label(self, label: str) -> int:
        """Add a label (before `initialize` only; `grow.grow_labels` grows a trained tagger's output layer).

        RETURNS: 0 if the label was already there, else 1.
        """
        if not isinstance(label, str) or not label:
            raise ValueError(f"{self.name}: a label must be a non-empty string, not {label!r}")
        if label in self.labels:
            return 0
        output_layer = self.model.get_ref("output_layer")
        if output_layer.has_dim("nO") is True and output_layer.has_param("W") and output_layer.get_param("W").size:
            raise ValueError(
                f"{self.name}: cannot add label {label!r} to a model that is already initialized (to continue "
                "training on new labels, see configs/continue_cnn.cfg: spacy_clinical_pt.grow)"
            )
        self.cfg["labels"].append(label)
        self.vocab.strings.add(label)
        return 1

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "ClinicalTagger":
        super().from_bytes(bytes_data, exclude=exclude)
        check_retired_settings(self.cfg, self.name)
        Thresholds.from_cfg(self.cfg).checked(self.labels)
        return self

    def from_disk(self, path: Any, *, exclude: Iterable[str] = tuple()) -> "ClinicalTagger":
        super().from_disk(path, exclude=exclude)
        check_retired_settings(self.cfg, f"{path}")
        Thresholds.from_cfg(self.cfg).checked(self.labels)
        return self


def best_non_overlapping(spans: Sequence[Span], scores: Sequence[float]) -> List[Span]:
    """The spans kept greedily by score, then length, so that none overlap; sorted by position."""
    order = sorted(range(len(spans)), key=lambda i: (-scores[i], -(spans[i].end - spans[i].start), spans[i].start))
    taken = numpy.zeros(len(spans[0].doc) if spans else 0, dtype=bool)
    kept = []
    for i in order:
        span = spans[i]
        if not taken[span.start : span.end].any():
            taken[span.start : span.end] = True
            kept.append(span)
    return sorted(kept, key=lambda span: span.start)


def sigmoid(ops: Ops, x: Floats2d) -> Floats2d:
    """The logistic function on the array's device: SciPy's `expit` (numpy) or CuPy's (GPU), exact at any logit."""
    if ops.xp is numpy:
        from scipy.special import expit
    else:
        from cupyx.scipy.special import expit
    return expit(x).astype("float32", copy=False)

