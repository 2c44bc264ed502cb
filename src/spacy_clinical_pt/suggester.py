"""The two stages joined the spaCy way: the tagger's span proposals as a spancat suggester.

A `clinical_tagger` that runs before spaCy's `spancat` leaves its token probabilities in `doc._.clinical_probs`
and their column names in `doc._.clinical_columns`; the suggester `spacy_clinical_pt.tagger_suggester.v1` turns
them into generous proposals (`schemes.candidate_spans`) that spancat accepts or rejects, as spaCy's own
`spacy.ngram_suggester.v1` and `spacy.preset_spans_suggester.v1` give it candidates
(configs/cnn_tagger_spancat.cfg):

    [components.spancat.suggester]
    @misc = "spacy_clinical_pt.tagger_suggester.v1"
    threshold = 0.05
    max_length = 24
    widen = 1

In training, the tagger must be in `[training] annotating_components`, so that each batch's docs hold its
probabilities when spancat's update calls the suggester. spancat alone writes the entities: the tagger has
`store_spans = false`, and `check_one_writer_per_key` refuses two components writing one `doc.spans` key.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

import numpy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Ops, get_current_ops
from thinc.types import Ragged

from .metrics import whitespace_tokens
from .schemes import candidate_spans, parse_columns
from .thresholds import check_threshold

PROBS_EXTENSION = "clinical_probs"
COLUMNS_EXTENSION = "clinical_columns"
# Settings of the tagger from before this suggester took its proposals over.
RETIRED_SETTINGS = ("candidates_key", "candidate_threshold", "candidate_max_length", "candidate_widen")

for _extension in (PROBS_EXTENSION, COLUMNS_EXTENSION):
    if not Doc.has_extension(_extension):
        Doc.set_extension(_extension, default=None)


def tagger_candidates(doc: Doc, threshold: float, max_length: int, widen: int) -> List[Tuple[int, int]]:
    """The (start, end) token offsets proposed for one doc from the tagger's probabilities, sorted.

    doc: a doc the `clinical_tagger` has annotated (`doc._.clinical_probs`, `doc._.clinical_columns`).
    threshold, max_length, widen: as `schemes.candidate_spans`.
    """
    probs, names = doc._.get(PROBS_EXTENSION), doc._.get(COLUMNS_EXTENSION)
    if probs is None or names is None:
        raise ValueError(
            "tagger_suggester: a doc has no token probabilities (doc._.clinical_probs); put a clinical_tagger "
            "before the span classifier in [nlp] pipeline and in [training] annotating_components"
        )
    labels, scheme = parse_columns(names)
    proposed = candidate_spans(probs, labels, scheme, threshold, max_length, widen, whitespace_tokens(doc))
    return [(span.start, span.end) for span in proposed]


def tagger_suggester(
    docs: Iterable[Doc], *, threshold: float, max_length: int, widen: int, ops: Optional[Ops] = None
) -> Ragged:
    """The proposals of a batch of docs (see `tagger_candidates`).

    RETURNS: a Ragged of int32 (start, end) rows, one group per doc, as spaCy's suggesters return.
    """
    if ops is None:
        ops = get_current_ops()
    spans = [tagger_candidates(doc, threshold, max_length, widen) for doc in docs]
    lengths = ops.asarray1i([len(doc_spans) for doc_spans in spans])
    rows = [pair for doc_spans in spans for pair in doc_spans]
    if not rows:
        return Ragged(ops.xp.zeros((0, 0), dtype="i"), lengths)
    return Ragged(ops.asarray2i(numpy.asarray(rows, dtype="i")), lengths)


@registry.misc("spacy_clinical_pt.tagger_suggester.v1")
def build_tagger_suggester(threshold: float = 0.05, max_length: int = 24, widen: int = 1) -> Callable[..., Ragged]:
    """Suggest the spans a `clinical_tagger` upstream finds plausible, for spaCy's `spancat` to classify.

    threshold: the probability a proposal's start, inside and end tokens must each reach (low, for recall).
    max_length: the longest proposal, in tokens.
    widen: each proposal is also copied with its start or end moved by up to this many tokens (0: not).
    """
    check_threshold(threshold, "candidates")
    if max_length < 1 or widen < 0:
        raise ValueError(
            f"tagger_suggester: max_length must be at least 1 and widen at least 0, got {max_length} and {widen}"
        )
    return partial(tagger_suggester, threshold=float(threshold), max_length=int(max_length), widen=int(widen))


def spans_writers(nlp: Language) -> Dict[str, List[str]]:
    """The components writing each `doc.spans` key: those that assign `doc.spans` under a `key` (spaCy's
    `spancat`, `span_ruler`, the `clinical_tagger`), less a tagger with `store_spans = false`."""
    writers: Dict[str, List[str]] = {}
    for name, pipe in nlp.pipeline:
        key = getattr(pipe, "key", None) if "doc.spans" in nlp.get_pipe_meta(name).assigns else None
        if isinstance(key, str) and getattr(pipe, "cfg", {}).get("store_spans", True):
            writers.setdefault(key, []).append(name)
    return writers


def check_one_writer_per_key(nlp: Language) -> None:
    """Raise a ValueError naming the components when two of them write the same `doc.spans` key."""
    for key, names in spans_writers(nlp).items():
        if len(names) > 1:
            raise ValueError(
                f"doc.spans[{key!r}] is written by {' and '.join(map(repr, names))}: the last one would overwrite "
                "the others; give each its own spans_key, or set store_spans = false on a clinical_tagger that "
                "proposes spans to a classifier (spacy_clinical_pt.tagger_suggester.v1)"
            )


def check_retired_settings(cfg: Mapping[str, Any], where: str) -> None:
    """Refuse a tagger saved with the settings this suggester took over (`RETIRED_SETTINGS`), saying what to do.

    cfg: the tagger's saved settings (its `cfg` file, or its block of a pipeline's config.cfg).
    where: the pipeline or component, for the message.
    """
    found = [key for key in RETIRED_SETTINGS if key in cfg]
    if found:
        raise ValueError(
            f"{where}: this clinical_tagger was saved with {', '.join(found)}, settings it no longer has: spancat "
            "gets its proposals from the suggester spacy_clinical_pt.tagger_suggester.v1 (threshold, max_length, "
            "widen). Retrain (configs/cnn_tagger_spancat.cfg), or edit the saved pipeline: remove these settings "
            "from config.cfg and clinical_tagger/cfg, add store_spans = false where spancat writes the same spans "
            'key, and give [components.spancat.suggester] @misc = "spacy_clinical_pt.tagger_suggester.v1" with '
            "the candidate_* values; the trained weights stay valid"
        )
