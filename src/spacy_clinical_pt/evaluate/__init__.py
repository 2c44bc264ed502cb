"""Evaluate a pipeline on a gold DocBin, as the benchmark paper does and more honestly.

    spacy-clinical-pt evaluate training/model-best corpus/test.spacy --dev corpus/dev.spacy --output eval/

What is measured (see `metrics` for the definitions):
- token level, as the paper: the token x label 0/1 matrix (IO columns; BIO/BIOE: its `B-`/`I-`(/`E-`) columns,
  and collapsed to the entity type with the max of the type's column probabilities), micro and macro precision,
  recall and F1, ROC AUC micro and macro, per label, by the rule of `metrics` that the training scorer shares:
  the unit is the spaCy token of the pipeline's tokenizer, whitespace tokens (`token.is_space`, e.g. a "\\r\\n")
  left out; macro over every label (column), one without gold or predicted tokens counting 0. (The paper's code
  also scored padding and special positions, about a third of all positions on NestedClinBr.)
- entity level: strict, partial (IoU >= 0.5, same label) and label-agnostic boundaries, one-to-one matching.

Thresholds (for pipelines with a `clinical_tagger`, which stores its probabilities in `doc._.clinical_probs`):
- `dev`: chosen on the dev set, applied to the test set (the honest default);
- `oracle`: chosen on the test set itself, as the paper did; every output says so;
- `fixed`: a given value, or the pipeline's own.
Shared (one threshold maximising micro F1, the paper) or per label. The pipeline runs once per DocBin; other
thresholds are applied to the stored probabilities, and spans re-decoded with `schemes.decode`.

Span classifiers (spaCy's `spancat`, alone or deciding on a `clinical_tagger`'s proposals, as in
configs/cnn_tagger_spancat.cfg: the last component to write the evaluated key, "sc" by default) score whole spans: the pipeline runs
once with the classifier's threshold at the bottom of the grid, and the threshold on the span scores is chosen as
above (dev, oracle or fixed; by exact-span F1, the only objective a span score has). `candidates` in
metrics.json says how many spans the classifier's own suggester proposed on the annotated docs (the tagger's
proposals, preset spans or n-grams alike) and how many gold spans were among them (the recall no classifier
threshold can exceed).

Other span-only pipelines (LLM pipelines: anything writing `doc.spans[key]`) get entity-level metrics and
token-level metrics of their fixed output.

`pipeline_setup` in metrics.json names what ran, for `aggregate` and `compare`: the tagger's scheme ("BIOE"), a span
classifier deciding on its proposals ("BIOE + spancat"), a span classifier alone ("spancat"), or other span output
("spans").

The pipeline is not changed: `Evaluation.thresholds` holds the chosen thresholds and `Thresholds.apply_to(nlp)`
(what `package` does with metrics.json's `threshold` section) makes it decode as evaluated.

Modules: `run` (running the pipeline), `matrices` (token matrices), `choose` (threshold choice), `spans` (span
classifiers), `pipeline` (`evaluate_pipeline`), `report` (report.md), `outputs` (the files and provenance). The
command is `spacy_clinical_pt.cli.evaluate`; outputs: `metrics.json`, `report.md`, `pr_curves.csv` + `.png`,
`roc_curves.csv` + `.png`.
"""

from .choose import NEEDS_DEV, ORACLE_NOTE, POLICIES, policy_description
from .matrices import label_matrix_name
from .outputs import provenance, writable_folder, write_outputs
from .pipeline import evaluate_pipeline
from .report import render_report, threshold_text
from .run import DocResult, Evaluation, load_gold

__all__ = [
    "NEEDS_DEV",
    "ORACLE_NOTE",
    "POLICIES",
    "DocResult",
    "Evaluation",
    "evaluate_pipeline",
    "label_matrix_name",
    "load_gold",
    "policy_description",
    "provenance",
    "render_report",
    "threshold_text",
    "writable_folder",
    "write_outputs",
]
