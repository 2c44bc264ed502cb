"""`clinical_spancat`: spaCy's multilabel span classifier, with class weights, a focal loss and per-label thresholds.

spaCy's `spancat` scores every candidate span for every label with an independent sigmoid and learns from the
gradient `score - target`, every label and every candidate weighted alike. On a corpus with many labels, a rare
label's few positive spans are drowned by the negatives of every candidate: its scores stay near 0, below any
threshold, and the label is never predicted (CLINpt's G, RA and OBS with the offline default). This component
is `spancat` with three additions, each off by default so that it starts as spancat does:

- `class_weighting = "inverse_label_freq"`: the gradient of a gold span's label is multiplied by
  `(n_max / n_label) ** class_weight_power`, from the entity counts of the training data at `initialize` (the most
  frequent label gets 1). Negatives keep weight 1. The weights are saved with the pipeline (`cfg`).
- `focal_gamma > 0`: a focal loss (Lin et al. 2017): each gradient is multiplied by `|score - target| ** gamma`,
  so that the many easy negatives count less than the few hard spans.
- `threshold` per label: a float, or a mapping label -> threshold (labels left out: 0.5), which `evaluate
  --per-label-thresholds` chooses on dev and `package --metrics` writes into the pipeline.

Use it in a config as `factory = "clinical_spancat"`, with the keys of `spancat` and the three above.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import numpy
from spacy.language import Language
from spacy.pipeline.spancat import DEFAULT_SPANCAT_MODEL, SpanCategorizer, Suggester
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example
from thinc.api import Model
from thinc.types import Floats2d, Ints2d, Ragged

from .thresholds import Thresholds, ThresholdValue

CLASS_WEIGHTINGS = ("none", "inverse_label_freq")


@Language.factory(
    "clinical_spancat",
    assigns=["doc.spans"],
    default_config={
        "threshold": 0.5,
        "spans_key": "sc",
        "max_positive": None,
        "model": DEFAULT_SPANCAT_MODEL,
        "suggester": {"@misc": "spacy.ngram_suggester.v1", "sizes": [1, 2, 3]},
        "scorer": {"@scorers": "spacy.spancat_scorer.v1"},
        "class_weighting": "none",
        "class_weight_power": 0.5,
        "focal_gamma": 0.0,
    },
    default_score_weights={"spans_sc_f": 1.0, "spans_sc_p": 0.0, "spans_sc_r": 0.0},
)
def make_clinical_spancat(
    nlp: Language,
    name: str,
    suggester: Suggester,
    model: Model[tuple[list[Doc], Ragged], Floats2d],
    spans_key: str,
    scorer: Optional[Callable],
    threshold: ThresholdValue,
    max_positive: Optional[int],
    class_weighting: str,
    class_weight_power: float,
    focal_gamma: float,
) -> "ClinicalSpanCategorizer":
    """The `clinical_spancat` factory: spaCy's `spancat` keys, plus the class weighting of the positives
    (`class_weighting`, `class_weight_power`), the focal loss's `focal_gamma` and per-label thresholds."""
    return ClinicalSpanCategorizer(
        nlp.vocab, model=model, suggester=suggester, name=name, spans_key=spans_key, scorer=scorer,
        threshold=threshold, max_positive=max_positive, class_weighting=class_weighting,
        class_weight_power=class_weight_power, focal_gamma=focal_gamma,
    )


def label_weights(counts: Mapping[str, int], labels: Sequence[str], power: float) -> dict[str, float]:
    """The weight of each label's positive spans: `(n_max / n_label) ** power` from the entity counts (labels
    without entities get the largest weight, as if they had one)."""
    most = max(counts.values(), default=1)
    return {label: float((most / max(counts.get(label, 0), 1)) ** power) for label in labels}


class ClinicalSpanCategorizer(SpanCategorizer):
    """spaCy's multilabel `SpanCategorizer` with class weights, a focal loss and per-label thresholds (see the
    module docstring)."""

    def __init__(
        self,
        vocab: Any,
        model: Model,
        suggester: Suggester,
        name: str = "clinical_spancat",
        *,
        spans_key: str = "sc",
        scorer: Optional[Callable] = None,
        threshold: ThresholdValue = 0.5,
        max_positive: Optional[int] = None,
        class_weighting: str = "none",
        class_weight_power: float = 0.5,
        focal_gamma: float = 0.0,
    ) -> None:
        if class_weighting not in CLASS_WEIGHTINGS:
            raise ValueError(f"class_weighting must be one of {', '.join(CLASS_WEIGHTINGS)}, not {class_weighting!r}")
        if class_weight_power < 0 or focal_gamma < 0:
            raise ValueError(f"class_weight_power and focal_gamma must be >= 0, got {class_weight_power}, {focal_gamma}")
        Thresholds.of(threshold)  # checked now: a threshold out of (0, 1) is a config error
        extra = {} if scorer is None else {"scorer": scorer}
        super().__init__(
            vocab, model, suggester, name, spans_key=spans_key, negative_weight=None, allow_overlap=True,
            max_positive=max_positive, threshold=0.5, add_negative_label=False, **extra,
        )
        self.cfg.update(
            threshold=threshold, class_weighting=class_weighting, class_weight_power=float(class_weight_power),
            focal_gamma=float(focal_gamma), label_weights={},
        )

    @property
    def threshold(self) -> ThresholdValue:
        """The threshold a span's score needs for a label: one for all, or a mapping label -> threshold."""
        return self.cfg["threshold"]

    @threshold.setter
    def threshold(self, value: ThresholdValue) -> None:
        checked = Thresholds.of(value).checked(self.labels if self.labels else None)
        self.cfg["threshold"] = dict(checked.start) if isinstance(checked.start, Mapping) else checked.start

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[list[str]] = None,
    ) -> None:
        """As spancat's, then the weights of the labels' positives from the training data's entity counts."""
        super().initialize(get_examples, nlp=nlp, labels=labels)
        counts: Counter = Counter()
        for eg in get_examples():
            counts.update(span.label_ for span in eg.reference.spans.get(self.key, []))
        weighted = self.cfg["class_weighting"] == "inverse_label_freq"
        self.cfg["label_weights"] = label_weights(counts, self.labels, self.cfg["class_weight_power"]) if weighted else {}

    def get_loss(self, examples: Iterable[Example], spans_scores: tuple[Ragged, Floats2d]) -> tuple[float, Floats2d]:
        """spancat's squared-error loss and gradient, the positives' gradient multiplied by their label's weight
        and every gradient by the focal factor `|score - target| ** focal_gamma`."""
        loss, d_scores = super().get_loss(examples, spans_scores)
        weights = self.cfg.get("label_weights") or {}
        gamma = self.cfg.get("focal_gamma", 0.0)
        if not weights and not gamma:
            return loss, d_scores
        xp = self.model.ops.xp
        raw = xp.asarray(d_scores)
        factor = xp.ones_like(raw)
        if weights:
            target = xp.rint(xp.asarray(spans_scores[1]) - raw)  # spancat's targets are 0 or 1
            column = xp.asarray([weights.get(label, 1.0) for label in self.labels], dtype=raw.dtype)
            factor = xp.where(target > 0.5, column[None, :], factor)
        if gamma:
            factor = factor * xp.abs(raw) ** gamma
        return float((factor * raw**2).sum()), raw * factor

    def _threshold_row(self) -> numpy.ndarray:
        """One threshold per label, in the order of `labels`."""
        return Thresholds.of(self.cfg["threshold"]).vectors(list(self.labels))[0]

    def _make_span_group_multilabel(self, doc: Doc, indices: Ints2d, scores: Floats2d) -> SpanGroup:
        """spancat's multilabel decision with a threshold per label: each candidate keeps the labels whose score
        reaches their threshold, at most `max_positive` of them (the highest)."""
        group = SpanGroup(doc, name=self.key)
        if scores.size == 0:
            return group
        scores = self.model.ops.to_numpy(scores)
        indices = self.model.ops.to_numpy(indices)
        keeps = scores >= self._threshold_row()[None, :]
        max_positive = self.cfg["max_positive"]
        if max_positive is not None:
            ranked = (-scores).argsort(axis=1)
            numpy.put_along_axis(keeps, ranked[:, max_positive:], False, axis=1)
        kept_scores = []
        for row, col in zip(*numpy.nonzero(keeps)):
            group.append(Span(doc, int(indices[row, 0]), int(indices[row, 1]), label=self.labels[col]))
            kept_scores.append(scores[row, col])
        group.attrs["scores"] = numpy.array(kept_scores)
        return group

