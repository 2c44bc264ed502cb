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
    _check_saved_taggers(Path(model) / "config.cfg")
    try:
        return spacy.load(model)
    except (OSError, ValueError) as err:  # spaCy's own errors for missing files, configs and weights
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{model}: not a loadable spaCy pipeline ({reason})") from None


def _check_saved_taggers(config_path: Path) -> None:
    """Refuse, with what to do, a pipeline folder whose clinical_tagger was saved with settings it no longer has
    (spaCy would stop at its config with "unexpected argument" and no way out)."""
    if not config_path.is_file():
        return  # an installed package, or not a pipeline folder: spaCy's own load says what is wrong
    from .suggester import check_retired_settings

    try:
        config = spacy.util.load_config(config_path, interpolate=False)
    except Exception:  # noqa: BLE001  (not readable as a config: spacy.load reports it in its own words)
        return
    for name, block in config.get("components", {}).items():
        if isinstance(block, dict) and block.get("factory") == "clinical_tagger":
            check_retired_settings(block, f"{config_path.parent} ({name})")


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
        writes = isinstance(pipe, SpanCategorizer) or (isinstance(pipe, ClinicalTagger) and pipe.cfg.get("store_spans", True))
        if writes and pipe.key == key:
            last = pipe
    return last if isinstance(last, SpanCategorizer) else None


def pipeline_spans_key(nlp: Language, spans_key: Optional[str] = None) -> str:
    """The `doc.spans` key to read: `spans_key` when given, else the pipeline's `clinical_tagger`'s, else "sc"."""
    if spans_key:
        return spans_key
    tagger = find_tagger(nlp)
    return tagger.key if tagger is not None else "sc"


def pipeline_labels(nlp: Language) -> list[str]:
    """The labels of the pipeline's span-writing components, in their order (for colours and legends)."""
    labels: list[str] = []
    for _, pipe in nlp.pipeline:
        for label in getattr(pipe, "labels", ()) or ():
            if isinstance(label, str) and label not in labels:
                labels.append(label)
    return labels


CONTEXT_FACTORY = "clinical_context"


def context_names(nlp: Language) -> list[str]:
    """The names of the pipeline's `clinical_context` components, in pipeline order."""
    return [name for name in nlp.pipe_names if nlp.get_pipe_meta(name).factory == CONTEXT_FACTORY]
