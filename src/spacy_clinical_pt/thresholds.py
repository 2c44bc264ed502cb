"""Decoding thresholds as one value type: parsed, validated and applied in one place.

A threshold is a probability strictly between 0 and 1, shared by every label or given per label (labels left out
use `DEFAULT_THRESHOLD`). BIO/BIOE taggers have two: the start threshold a `B` needs to open a span and the
continuation threshold an `I` needs to carry it on (None: the start threshold; see `schemes.decode`).

`Thresholds` is what the tagger's cfg holds (`threshold`, `continue_threshold`), what `evaluate` chooses and writes
in metrics.json's `threshold` section (`value`, `continue_threshold.value`), what the command line's `--threshold`
gives ("0.4" or "Problema=0.3,Teste=0.5"), and what `package` writes into a pipeline (`apply_to`).
Plain Python and numpy: spaCy is imported by `apply_to` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Union

import numpy

DEFAULT_THRESHOLD = 0.5
# A shared threshold, or one per label.
ThresholdValue = Union[float, Mapping[str, float]]


def check_threshold(value: object, name: str) -> float:
    """Return `value` as a float, or raise a ValueError unless it is a number strictly between 0 and 1.

    name: what the threshold is for, in the message (a label, "(shared)", "candidates").
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"threshold for {name} must be a number between 0 and 1, not {value!r}")
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"threshold for {name} must lie strictly between 0 and 1, got {value}")
    return float(value)


def _checked_value(value: object) -> ThresholdValue:
    """A shared value as a float, a per-label mapping as a dict of floats, each checked by `check_threshold`."""
    if isinstance(value, Mapping):
        return {str(label): check_threshold(v, str(label)) for label, v in value.items()}
    return check_threshold(value, "(shared)")


@dataclass(frozen=True)
class Thresholds:
    """The start threshold and the (BIO/BIOE) continuation threshold, each shared (a float) or per label (a dict).

    start: the threshold a token (IO) or a `B` (BIO, BIOE) needs; for span classifiers, a span's score.
    continuation: the threshold an `I` needs to continue an open span; None: `start`.
    Values are checked when the object is made (strictly between 0 and 1); label names once the labels are
    known (`checked`).
    """

    start: ThresholdValue = DEFAULT_THRESHOLD
    continuation: Optional[ThresholdValue] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _checked_value(self.start))
        if self.continuation is not None:
            object.__setattr__(self, "continuation", _checked_value(self.continuation))

    @classmethod
    def of(cls, value: Union["Thresholds", ThresholdValue]) -> "Thresholds":
        """`value` itself if it is a `Thresholds`, else a start threshold (shared or per label)."""
        return value if isinstance(value, Thresholds) else cls(value)

    @classmethod
    def parse(cls, text: str) -> "Thresholds":
        """A command-line threshold: one shared value ("0.4") or values per label ("Problema=0.3,Teste=0.5")."""
        if "=" not in text:
            return cls(_number(text, text))
        values = {}
        for item in (part for part in text.split(",") if part.strip()):
            label, sep, number = item.partition("=")
            if not sep or not label.strip():
                raise ValueError(f"threshold {text!r}: {item.strip()!r} is not LABEL=VALUE")
            values[label.strip()] = _number(number, text)
        return cls(values)

    @classmethod
    def from_dict(cls, section: Mapping[str, Any]) -> "Thresholds":
        """The thresholds of metrics.json's `threshold` section: `value` and `continue_threshold.value` (if any).

        Raises ValueError when the section has no value (span-only pipelines have none).
        """
        if section.get("value") is None:
            raise ValueError("the threshold section has no value (a span-only pipeline has no threshold)")
        carry = section.get("continue_threshold") or {}
        return cls(section["value"], carry.get("value"))

    def to_dict(self) -> dict[str, Any]:
        """The `value` and `continue_threshold` entries of metrics.json's `threshold` section (`from_dict` reads
        them back); no `continue_threshold` without a continuation threshold."""
        data: dict[str, Any] = {"value": _plain(self.start)}
        if self.continuation is not None:
            data["continue_threshold"] = {"value": _plain(self.continuation)}
        return data

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any]) -> "Thresholds":
        """The thresholds of a `clinical_tagger` cfg: `threshold` and `continue_threshold`."""
        return cls(cfg.get("threshold", DEFAULT_THRESHOLD), cfg.get("continue_threshold"))

    def to_cfg(self) -> dict[str, Any]:
        """The `threshold` and `continue_threshold` entries of a `clinical_tagger` cfg (plain floats and dicts)."""
        return {"threshold": _plain(self.start), "continue_threshold": _plain(self.continuation)}

    @property
    def per_label(self) -> bool:
        """True when the start or the continuation threshold is given per label."""
        return isinstance(self.start, Mapping) or isinstance(self.continuation, Mapping)

    def checked(self, labels: Optional[Sequence[str]]) -> "Thresholds":
        """`self`, or a ValueError naming the labels of a mapping that are not in `labels` (None: not known yet,
        nothing to check)."""
        if labels is None:
            return self
        for value in (self.start, self.continuation):
            unknown = sorted(set(value) - set(labels)) if isinstance(value, Mapping) else []
            if unknown:
                known = ", ".join(labels) or "none yet"
                raise ValueError(
                    f"threshold given for unknown label(s) {', '.join(map(repr, unknown))}; labels: {known}"
                )
        return self

    def completed(self, labels: Sequence[str]) -> "Thresholds":
        """The same thresholds with every mapping holding every label of `labels` (those left out get
        `DEFAULT_THRESHOLD`); checked against `labels` first."""
        self.checked(labels)

        def complete(value: Optional[ThresholdValue]) -> Optional[ThresholdValue]:
            if not isinstance(value, Mapping):
                return value
            return {label: float(value.get(label, DEFAULT_THRESHOLD)) for label in labels}

        return Thresholds(complete(self.start), complete(self.continuation))

    def vectors(self, labels: Sequence[str]) -> tuple[numpy.ndarray, numpy.ndarray]:
        """One start and one continuation threshold per entry of `labels` (a label may repeat, e.g. the label of
        each BIO column), checked against `labels`.

        RETURNS: two float32 arrays of shape (len(labels),); the continuation is the start where it is None.
        """
        complete = self.completed(list(dict.fromkeys(labels)))

        def vector(value: ThresholdValue) -> numpy.ndarray:
            if isinstance(value, Mapping):
                return numpy.asarray([value[label] for label in labels], dtype="float32")
            return numpy.full(len(labels), value, dtype="float32")

        start = vector(complete.start)
        return start, start if complete.continuation is None else vector(complete.continuation)

    def apply_to(self, nlp: Any, component: Optional[str] = None) -> str:
        """Set these thresholds on the component whose spans are the pipeline's output (`deciding_components`), so
        that it decodes as evaluated: the span classifier if there is one, else the `clinical_tagger` (its
        `threshold` and `continue_threshold`, the latter None when not given).

        nlp: the pipeline. component: the `clinical_tagger`'s name (default: the last one).
        RETURNS: the name of the component set. Raises ValueError when there is no such component, when a span
        classifier (one shared threshold) is given per-label or continuation thresholds, or for a label the
        tagger does not have.
        """
        tagger, classifier = deciding_components(nlp, component)
        if classifier is not None:
            takes_per_label = takes_per_label_thresholds(classifier)
            if self.continuation is not None or (self.per_label and not takes_per_label):
                what = "one threshold per label" if takes_per_label else "one shared threshold"
                refused = "continuation" if takes_per_label else "per-label and continuation"
                raise ValueError(
                    f"span classifier {classifier.name!r} has {what} on span scores: {refused} thresholds cannot be "
                    "set on it"
                )
            if takes_per_label:
                classifier.threshold = _plain(self.start)
            else:
                classifier.cfg["threshold"] = float(self.start)
            return str(classifier.name)
        if tagger is None:
            raise ValueError("the pipeline has no clinical_tagger or span classifier to set thresholds on")
        self.checked(tagger.labels)
        tagger.threshold = _plain(self.start)
        tagger.continue_threshold = _plain(self.continuation)
        return str(tagger.name)


def takes_per_label_thresholds(classifier: Any) -> bool:
    """True for a span classifier that takes a threshold per label (`clinical_spancat`); spaCy's `spancat` has one."""
    from .span_classifier import ClinicalSpanCategorizer

    return isinstance(classifier, ClinicalSpanCategorizer)


def deciding_components(nlp: Any, component: Optional[str] = None, spans_key: Optional[str] = None) -> tuple[Any, Any]:
    """The components whose threshold decides the pipeline's output spans: (tagger, span classifier), either None.

    The tagger: the `clinical_tagger` named `component` (default: the last one). The span classifier: the spancat
    writing the output key last (`pipes.find_span_classifier`): `spans_key` if given, else "sc" (spaCy's key, which
    a span classifier deciding on a tagger's proposals writes) or else the tagger's key.
    """
    from .pipes import find_span_classifier, find_tagger

    tagger = find_tagger(nlp, component)
    keys = [spans_key] if spans_key else ["sc", *([tagger.key] if tagger is not None else [])]
    classifier = next((c for c in (find_span_classifier(nlp, key) for key in keys) if c is not None), None)
    return tagger, classifier


def _number(text: str, whole: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"threshold {whole!r}: {text.strip()!r} is not a number") from None


def _plain(value: Optional[ThresholdValue]) -> Optional[ThresholdValue]:
    """A copy that JSON and a cfg can hold: a float, a dict of floats, or None."""
    return dict(value) if isinstance(value, Mapping) else value
