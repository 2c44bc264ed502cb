"""Finding and loading the components of a pipeline: what every command that runs a pipeline needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import spacy
from spacy.language import Language


def load_pipeline(model: str) -> Language:
    """`spacy.load(model)`; a ValueError naming `model` when it is neither a folder nor a package, or does not load.

    model: a pipeline folder or an installed package name.
    """
    if not Path(model).exists() and not spacy.util.is_package(model):
        raise ValueError(f"{model}: no such pipeline folder or installed package")
    try:
        return spacy.load(model)
    except (OSError, ValueError) as err:  # spaCy's own errors for missing files, configs and weights
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{model}: not a loadable spaCy pipeline ({reason})") from None


def find_tagger(nlp: Language, component: Optional[str] = None) -> Any:
    """The pipeline's `clinical_tagger` (the last one, or the one named `component`), or None if it has none."""
    from .tagger import ClinicalTagger

    if component is not None:
        if component not in nlp.pipe_names:
            raise ValueError(f"no component {component!r} in the pipeline (it has: {', '.join(nlp.pipe_names)})")
        pipe = nlp.get_pipe(component)
        return pipe if isinstance(pipe, ClinicalTagger) else None
    taggers = [pipe for _, pipe in nlp.pipeline if isinstance(pipe, ClinicalTagger)]
    return taggers[-1] if taggers else None


def find_span_classifier(nlp: Language, key: str) -> Any:
    """The spaCy span categorizer (`spancat`) whose spans are the pipeline's output under `doc.spans[key]`: the
    last component writing `key`, if that is one (a `clinical_tagger` writing `key` after it wins). Else None."""
    from spacy.pipeline import SpanCategorizer

    from .tagger import ClinicalTagger

    last = None
    for _, pipe in nlp.pipeline:
        if isinstance(pipe, (SpanCategorizer, ClinicalTagger)) and pipe.key == key:
            last = pipe
    return last if isinstance(last, SpanCategorizer) else None
