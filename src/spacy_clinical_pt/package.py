"""Packaging a trained pipeline as a pip-installable wheel: `pip install pt_clinical_cnn-*.whl`, then
`spacy.load("pt_clinical_cnn")`.

    spacy-clinical-pt package training/cnn/model-best --output packages --encoder cnn \
        --train-corpus nestedclinbr --metrics metrics/cnn/metrics.json --version 0.1.0

The wheel is named after the encoder (`encoders.pipeline_package_name`): `pt_clinical_cnn` (the offline default),
`pt_clinical_mmbert` (mmBERT-base; a base size is the encoder's default and drops its suffix),
`pt_clinical_mmbert_small`, `pt_clinical_biobertpt_clin`, ... Its `meta.json` carries, besides spaCy's fields:
- `clinical_pt`: encoder (key and Hugging Face id), scheme, labels, spans key, the decoding threshold and how it
  was chosen, the training corpus, and the evaluation (headline and per-label scores from `evaluate`'s
  metrics.json, when given);
- `sources` and `license`: the training data and its terms (NestedClinBr: no licence file upstream, research
  use, cite HAILab PUCPR; ER_NER: CC BY-NC 4.0). A pipeline inherits the terms of the data it learned from;
- `requirements`: `spacy-clinical-pt` (the `clinical_tagger` factory and the clinical tokenizer live there and are
  found through its entry points), plus what spaCy finds in the config (spacy-transformers...).

The packaged pipeline ends with `clinical_context` (assertion: `span._.is_negated`, `span._.assertion`...) on the
pipeline's spans key, added when the trained pipeline has none; `--no-context` leaves it out (and removes one the
trained pipeline had). Its rules are saved in the package, so `spacy.load` needs no rule file.

With `--metrics`, the threshold `evaluate` chose on the dev set (or was given) is written into the packaged
pipeline, so the wheel decodes as it was evaluated. A threshold chosen on the test set (oracle policy) is never
written: it is reported in the meta as the optimistic figure it is, and the pipeline keeps its own.

The wheel is built with `spacy package` (package folder) and `pip wheel --no-build-isolation --no-index`: it needs
only setuptools (which ships `bdist_wheel` since 70.1), no network and no `build` package.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Optional

from . import __version__
from .corpus import describe_error
from .encoders import ENCODERS, encoder_key, pipeline_package_name
from .results import read_metrics

PACKAGE_REQUIREMENT_NAME = "spacy-clinical-pt"
OWN_THRESHOLD = "the pipeline's own (set at training)"

# The data the pipelines learn from: terms, attribution, where it comes from (see ../shared/corpora/*/SOURCE.md).
CORPORA: dict[str, dict[str, str]] = {
    "nestedclinbr": {
        "name": "NestedClinBr",
        "url": "https://github.com/HAILab-PUCPR/NestedClinBr",
        "author": "HAILab, PUCPR (Pontifícia Universidade Católica do Paraná)",
        "license": "no licence file upstream; freely available to the research community (research use); "
        "cite the NestedClinBr authors (HAILab, PUCPR)",
    },
    "er_ner": {
        "name": "ER_NER",
        "url": "https://github.com/LIAAD/ER_NER",
        "author": "LIAAD, INESC TEC",
        "license": "CC BY-NC 4.0",
    },
    "semclinbr": {
        "name": "SemClinBr",
        "author": "HAILab, PUCPR",
        "license": "distributed on request by its authors; research use under their terms",
    },
}


class PackageResult(NamedTuple):
    """What `package_pipeline` built: the package name, its version, the wheel, and the meta it carries."""

    name: str
    version: str
    wheel: Path
    meta: dict[str, Any]


def corpus_source(corpus: str) -> dict[str, str]:
    """The `sources` entry of the meta for a corpus key (nestedclinbr, er_ner, semclinbr) or any other name."""
    key = corpus.strip().lower().replace("-", "_")
    if key in CORPORA:
        return dict(CORPORA[key])
    return {"name": corpus, "license": "user-provided corpus: check its terms before sharing the pipeline"}


def evaluation_summary(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The part of `evaluate`'s metrics.json that goes into the meta: threshold, headline and per-label scores.

    No provenance beyond data hashes and the date (no host names, no paths of the user's machine).
    """
    scheme = metrics.get("scheme") or "IO"
    token = metrics.get("token", {}).get(scheme, {})
    entity = metrics.get("entity", {})
    threshold = metrics.get("threshold", {})
    provenance = metrics.get("provenance", {})

    def prf(section: Mapping[str, Any]) -> dict[str, Any]:
        return {k: section[k] for k in ("precision", "recall", "f1") if k in section}

    summary: dict[str, Any] = {
        "corpus": provenance.get("corpus"),
        "date": provenance.get("date"),
        "data_sha256": {role: d.get("sha256") for role, d in provenance.get("data", {}).items()},
        "threshold": {
            k: threshold.get(k)
            for k in ("policy", "description", "value", "chosen_on", "per_label", "continue_threshold")
        },
        "token_unit": metrics.get("token_unit"),
        "counts": metrics.get("counts", {}),
        "token": {"scheme": scheme, "micro": prf(token.get("micro", {})), "macro": prf(token.get("macro", {}))},
        "entity_strict": {
            "micro": prf(entity.get("strict", {}).get("micro", {})),
            "macro": prf(entity.get("strict", {}).get("macro", {})),
        },
    }
    per_label = token.get("per_label")
    if isinstance(per_label, Mapping):
        summary["token"]["per_label_f1"] = {
            label: values.get("f1") for label, values in per_label.items() if isinstance(values, Mapping)
        }
    return summary


def _performance(summary: Mapping[str, Any]) -> dict[str, float]:
    """spaCy's meta `performance` (shown in the package README): the headline test scores."""
    scheme = summary["token"]["scheme"]
    figures = {
        f"token_{scheme}_micro_f1": summary["token"]["micro"].get("f1"),
        f"token_{scheme}_macro_f1": summary["token"]["macro"].get("f1"),
        "entity_strict_micro_f1": summary["entity_strict"]["micro"].get("f1"),
        "entity_strict_macro_f1": summary["entity_strict"]["macro"].get("f1"),
    }
    return {k: round(float(v), 4) for k, v in figures.items() if v is not None}


def package_pipeline(
    model_dir: str | Path,
    output_dir: str | Path,
    *,
    encoder: str,
    train_corpus: str,
    version: str = "0.1.0",
    name: Optional[str] = None,
    metrics_path: Optional[str | Path] = None,
    apply_threshold: bool = True,
    description: Optional[str] = None,
    context: bool = True,
) -> PackageResult:
    """Build `<name>-<version>-py3-none-any.whl` from a trained pipeline folder.

    model_dir: the trained pipeline (e.g. training/cnn/model-best).
    output_dir: where the package folder `<name>-<version>/` and the wheel (in its `dist/`) go; an earlier build
        of the same name and version there is replaced.
    encoder: the encoder key (`cnn`, `mmbert_base`...): names the package and is recorded in the meta; another
        name (a local test encoder) is accepted when `name` is given.
    train_corpus: the training corpus key (`nestedclinbr`, `er_ner`, `semclinbr`) or name, for the meta and licence.
    version: the package version. name: the package name (default `pipeline_package_name(encoder)`).
    metrics_path: `evaluate`'s metrics.json on the test set, recorded in the meta.
    apply_threshold: write the threshold chosen on dev (or given) in metrics.json into the packaged pipeline.
    description: the meta's description (default: labels, encoder and corpus in one sentence).
    context: end the pipeline with `clinical_context` (`set_context`); False leaves it out.
    Raises ValueError for an unknown encoder, a bad name or version, a folder spaCy cannot load, a metrics file
    that is not `evaluate`'s, or a failed build (with pip's last lines); OSError when `output_dir` cannot be made.
    """
    model_dir, output_dir = Path(model_dir), Path(output_dir)
    key, name = _checked_request(model_dir, output_dir, encoder, name, version)
    metrics = read_metrics(metrics_path) if metrics_path else None
    nlp = _load(model_dir)
    threshold_note = OWN_THRESHOLD
    if metrics is not None:
        threshold_note = apply_evaluation_threshold(nlp, metrics.get("threshold") or {}, apply_threshold,
                                                    metrics_path)
    set_context(nlp, context)
    clinical = clinical_meta(nlp, key, train_corpus, threshold_note)
    meta = _pipeline_meta(nlp, name, version, clinical, corpus_source(train_corpus),
                          description or _description(clinical, key))
    if metrics is not None:
        clinical["evaluation"] = evaluation_summary(metrics)
        meta["performance"] = _performance(clinical["evaluation"])
    output_dir.mkdir(parents=True, exist_ok=True)
    package_dir = output_dir / f"{name}-{version}"
    with tempfile.TemporaryDirectory(prefix="clinical-pt-package-") as staging:
        staged = Path(staging) / "pipeline"
        nlp.to_disk(staged)  # with the threshold applied above
        (staged / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf8")
        if package_dir.exists():
            shutil.rmtree(package_dir)
        _spacy_package(staged, output_dir, f"{model_dir} (name {name!r}, version {version!r})")
    wheel = build_wheel(package_dir, package_dir / "dist")
    final_meta = json.loads((package_dir / "meta.json").read_text(encoding="utf8"))
    return PackageResult(name, version, wheel, final_meta)


def _checked_request(
    model_dir: Path, output_dir: Path, encoder: str, name: Optional[str], version: str
) -> tuple[str, str]:
    """The encoder key and the package name, once what can be refused before loading the pipeline is checked."""
    if not (model_dir / "config.cfg").is_file():
        raise ValueError(f"{model_dir}: not a trained pipeline folder (no config.cfg)")
    key = encoder_key(encoder)
    if key not in ENCODERS and name is None:
        raise ValueError(
            f"unknown encoder {encoder!r}: use one of {', '.join(ENCODERS)}, or give the package name (--name)"
        )
    name = name or pipeline_package_name(key)
    # ASCII only: setuptools drops other letters from the wheel's name (pt_ção became pt_o), and pip cannot find it.
    if not re.fullmatch(r"pt_[a-z0-9_]+", name):
        raise ValueError(
            f"package name {name!r} must start with 'pt_' and go on with lower-case ASCII letters, digits and "
            "underscores (e.g. pt_clinical_cnn)"
        )
    _check_version(version)
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"{output_dir}: is a file, not a folder for the package")
    return key, name


def _load(model_dir: Path) -> Any:
    import spacy

    try:
        return spacy.load(model_dir)
    except Exception as error:  # config, registry, weights or JSON errors: none of them says which folder
        raise ValueError(f"{model_dir}: not a pipeline spaCy can load ({describe_error(error)})") from error


def apply_evaluation_threshold(
    nlp: Any, section: Mapping[str, Any], apply: bool = True, metrics_path: str | Path = "metrics.json"
) -> str:
    """Set the threshold of metrics.json's `threshold` section on the pipeline's output component
    (`Thresholds.apply_to`) when it was chosen on dev or given (policy `dev` or `fixed`), so the package decodes
    as it was evaluated; a threshold chosen on test (`oracle`) is never set.

    nlp: the pipeline. section: metrics.json's `threshold`. apply: False keeps the pipeline's own.
    metrics_path: names the file in errors.
    RETURNS: where the pipeline's threshold now comes from, for the meta. Raises ValueError, naming the file, for
    a threshold the component refuses (out of range, unknown label).
    """
    from .pipes import find_span_classifier, find_tagger, pipeline_spans_key
    from .thresholds import Thresholds, takes_per_label_thresholds

    tagger = find_tagger(nlp)
    classifier = find_span_classifier(nlp, pipeline_spans_key(nlp))
    if tagger is None and classifier is None:
        return OWN_THRESHOLD
    if section.get("policy") == "oracle":
        # A threshold chosen on the test set would make the shipped scores optimistic: never ship it.
        return f"{OWN_THRESHOLD}; the evaluation's oracle threshold (chosen on test) is not applied"
    if not apply or section.get("policy") not in ("dev", "fixed") or section.get("value") is None:
        return OWN_THRESHOLD
    try:
        thresholds = Thresholds.from_dict(section)
        if classifier is not None and thresholds.per_label and not takes_per_label_thresholds(classifier):
            return f"{OWN_THRESHOLD}; spancat has one shared threshold, the evaluation's per-label ones are not applied"
        if classifier is not None:  # it decides on spans: a tagger's continuation threshold is not its own
            thresholds = Thresholds(thresholds.start)
        thresholds.apply_to(nlp)
    except ValueError as error:
        raise ValueError(f"{metrics_path}: threshold: {error}") from error
    return section.get("description", section["policy"])


def set_context(nlp: Any, include: bool = True) -> None:
    """End the pipeline with a `clinical_context` on its spans key (added when it has none), or remove every one.

    nlp: the pipeline to package. include: False removes them (`--no-context`).
    """
    from .pipes import CONTEXT_FACTORY, context_names, pipeline_spans_key

    names = context_names(nlp)
    if not include:
        for name in names:
            nlp.remove_pipe(name)
        return
    if not names:
        from . import context  # noqa: F401  registers the factory in this process; the wheel finds it by entry point

        nlp.add_pipe(CONTEXT_FACTORY, last=True, config={"spans_key": pipeline_spans_key(nlp)})


def _context_meta(nlp: Any) -> Optional[dict[str, Any]]:
    """The meta's `clinical_pt.assertion`: the `clinical_context` component and its spans key, or None."""
    from .pipes import context_names

    names = context_names(nlp)
    if not names:
        return None
    component = nlp.get_pipe(names[-1])
    return {"component": names[-1], "spans_key": component.spans_key, "rules": len(component.rules)}


def clinical_meta(nlp: Any, encoder: str, train_corpus: str, threshold_note: str) -> dict[str, Any]:
    """The meta's `clinical_pt` section: encoder, scheme, labels, spans key, thresholds and where they come from,
    the span classifier if any, the training corpus, the assertion component if any.

    nlp: the pipeline, thresholds set. encoder: the encoder key. train_corpus: the corpus key or name.
    threshold_note: where the threshold comes from (`apply_evaluation_threshold`).
    """
    from .pipes import find_span_classifier, find_tagger, pipeline_spans_key
    from .thresholds import Thresholds

    tagger = find_tagger(nlp)
    spans_key = pipeline_spans_key(nlp)
    # A span classifier deciding on the tagger's proposals (configs/cnn_tagger_spancat.cfg) owns the output threshold.
    classifier = find_span_classifier(nlp, spans_key)
    labels = list(tagger.labels) if tagger is not None else sorted(
        {label for labels in nlp.meta.get("labels", {}).values() for label in labels}
    )
    encoder_info = ENCODERS.get(encoder)
    # The transformer the pipeline was trained on, as its config names it (a hub id or a model folder).
    trained_on = nlp.config.interpolate().get("components", {}).get("transformer", {}).get("model", {}).get("name")
    return {
        "encoder": encoder,
        "encoder_model": trained_on or (encoder_info.hf_name if encoder_info else None),
        "architecture": encoder_info.architecture if encoder_info else ("transformer" if trained_on else None),
        "scheme": tagger.scheme if tagger is not None else None,
        "labels": labels,
        "spans_key": spans_key,
        "threshold": Thresholds.of(classifier.cfg["threshold"]).to_dict()["value"] if classifier is not None
        else tagger.threshold if tagger is not None else None,
        "continue_threshold": tagger.continue_threshold if tagger is not None and classifier is None else None,
        "threshold_source": threshold_note,
        "span_classifier": classifier.name if classifier is not None else None,
        "training_corpus": corpus_source(train_corpus)["name"],
        "assertion": _context_meta(nlp),
        "package_version": __version__,
    }


def _description(clinical: Mapping[str, Any], encoder: str) -> str:
    encoder_info = ENCODERS.get(encoder)
    return (
        f"Clinical NER for Portuguese ({', '.join(clinical['labels'])}), overlapping and nested entities in "
        f"doc.spans[{clinical['spans_key']!r}] with scores. Encoder: "
        f"{encoder_info.description if encoder_info else encoder}. Trained on {clinical['training_corpus']}. "
        "Needs the package spacy-clinical-pt."
    )


def _pipeline_meta(
    nlp: Any, name: str, version: str, clinical: dict[str, Any], source: dict[str, str], description: str
) -> dict[str, Any]:
    """spaCy's meta of the package: the pipeline's own, with name, version, description, the training data's
    source and licence (`corpus_source`), `clinical_pt`, and spacy-clinical-pt among the requirements."""
    meta = dict(nlp.meta)
    meta.update(
        name=name[len("pt_"):],  # spaCy's meta name leaves out the language; the package is "<lang>_<name>"
        version=version,
        description=description,
        author="spacy-clinical-pt developers",
        license=source["license"],
        sources=[source],
        clinical_pt=clinical,
    )
    requirement = f"{PACKAGE_REQUIREMENT_NAME}>={_minor(__version__)},<{_next_minor(__version__)}"
    meta["requirements"] = [requirement] + [
        r for r in meta.get("requirements", []) if not r.startswith(PACKAGE_REQUIREMENT_NAME)
    ]
    return meta


def _spacy_package(staged: Path, output_dir: Path, what: str) -> None:
    """`spacy package` the staged pipeline folder into `output_dir` (a package folder, no sdist or wheel)."""
    from spacy.cli.package import package as spacy_package

    try:
        spacy_package(staged, output_dir, create_sdist=False, create_wheel=False, force=True, silent=True)
    except SystemExit:  # spaCy's printer exits on invalid input; its message was silenced
        raise ValueError(f"spacy package rejected the pipeline {what}") from None


def build_wheel(package_dir: Path, dist_dir: Path) -> Path:
    """`pip wheel` the package folder written by `spacy package`, offline; RETURNS the wheel's path."""
    dist_dir.mkdir(parents=True, exist_ok=True)
    before = set(dist_dir.glob("*.whl"))
    command = [
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
        "--quiet", "--wheel-dir", str(dist_dir), str(package_dir),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ValueError(f"building the wheel of {package_dir} failed:\n{(result.stderr or result.stdout)[-2000:]}")
    # The build leaves build/ and *.egg-info beside setup.py; they are not part of the package folder.
    for leftover in (package_dir / "build", *package_dir.glob("*.egg-info")):
        shutil.rmtree(leftover, ignore_errors=True)
    wheels = sorted(set(dist_dir.glob("*.whl")) - before) or sorted(dist_dir.glob("*.whl"))
    if not wheels:
        raise ValueError(f"pip wheel wrote no wheel into {dist_dir}")
    return max(wheels, key=lambda p: p.stat().st_mtime)


def _check_version(version: str) -> None:
    """Raise ValueError unless `version` is a PEP 440 version: it names the package folder and the wheel."""
    from packaging.version import InvalidVersion, Version

    try:
        Version(version)
    except InvalidVersion:
        raise ValueError(f"package version {version!r} is not a version number such as 0.1.0 (PEP 440)") from None


def _minor(version: str) -> str:
    major, minor = (version.split(".") + ["0"])[:2]
    return f"{major}.{minor}.0"


def _next_minor(version: str) -> str:
    major, minor = (version.split(".") + ["0"])[:2]
    return f"{major}.{int(minor) + 1}.0"
