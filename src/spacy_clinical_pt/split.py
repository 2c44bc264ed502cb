"""Document-level train/dev/test splits: iterative stratification (Sechidis et al. 2011) or random.

The benchmark (seed 000) splits documents 60/20/20 with scikit-multilearn's iterative stratification on the
document x label presence matrix, and compares it with a plain random split. This module does both, the same
way: labels present in fewer than `min_docs_per_label` documents are left out of the stratification matrix
(they are listed, not dropped from the data), the test set is split off first, then dev from the rest with
the ratio adjusted to what is left. A corpus that comes with its own test set (NestedClinBr) keeps it: only
the rest is split into train and dev.

How good a split is, is measured with the two figures of Sechidis et al. (2011), so that random and
iterative splits can be compared (see `label_distribution`, `examples_distribution`), plus
`label_proportion_deviation`, which stays defined when a label is in every document of a subset.

The `split` command (`cli/split.py`) writes `train.spacy`, `dev.spacy`, `test.spacy` and `split.json` (document ids
per split,
excluded labels, quality figures) and prints the label distribution per split.
"""

from __future__ import annotations

import errno
import json
import math
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from spacy.tokens import Doc, DocBin

from .corpus import Progress
from .stats import check_spans_key, doc_entities, document_ids

SPLIT_NAMES = ("train", "dev", "test")


class SplitMethod(str, Enum):
    iterative = "iterative"
    random = "random"


@dataclass
class LabelMatrix:
    """Which labels each document holds.

    labels: the column labels, sorted.
    counts: (n_docs, n_labels) int array, entities of each label in each document (an entity counted once
        however many fragments it has).
    """

    labels: list[str]
    counts: np.ndarray

    @property
    def presence(self) -> np.ndarray:
        """(n_docs, n_labels) 0/1 int array: whether each document holds each label."""
        return (self.counts > 0).astype(np.int64)

    def documents_per_label(self) -> dict[str, int]:
        return dict(zip(self.labels, self.presence.sum(axis=0).tolist()))


def label_matrix(docs: Sequence[Doc], spans_key: str = "sc", labels: Sequence[str] | None = None) -> LabelMatrix:
    """The document x label entity counts of `docs`.

    labels: the columns to use (e.g. the union over several files); default all labels found, sorted.
    """
    per_doc = []
    for doc in docs:
        counts: dict[str, int] = {}
        for entity in doc_entities(doc, spans_key):
            counts[entity.label] = counts.get(entity.label, 0) + 1
        per_doc.append(counts)
    columns = sorted({label for counts in per_doc for label in counts}) if labels is None else list(labels)
    index = {label: j for j, label in enumerate(columns)}
    matrix = np.zeros((len(docs), len(columns)), dtype=np.int64)
    for i, counts in enumerate(per_doc):
        for label, n in counts.items():
            if label in index:
                matrix[i, index[label]] = n
    return LabelMatrix(columns, matrix)


def check_ratios(ratios: Sequence[float], n_splits: int) -> list[float]:
    """Validate split ratios: `n_splits` non-negative numbers summing to 1, the first (train) positive."""
    ratios = [float(r) for r in ratios]
    if len(ratios) != n_splits:
        names = "/".join(SPLIT_NAMES[:n_splits])
        raise ValueError(f"expected {n_splits} ratios ({names}), got {len(ratios)}: {ratios}")
    if not all(math.isfinite(r) for r in ratios):  # nan passes every comparison below
        raise ValueError(f"ratios must be finite numbers, got {ratios}")
    if any(r < 0 for r in ratios) or ratios[0] <= 0:
        raise ValueError(f"ratios must be non-negative and the train ratio positive, got {ratios}")
    if abs(sum(ratios) - 1.0) > 1e-6:
        raise ValueError(f"ratios must sum to 1, got {ratios} (sum {sum(ratios):g})")
    return ratios


def random_split(n_docs: int, ratios: Sequence[float], seed: int) -> list[np.ndarray]:
    """Shuffle the documents and cut them in order: each subset but the last gets floor(ratio x n_docs).

    Returns one sorted index array per ratio; the last subset takes the remainder (as in the benchmark).
    """
    order = np.random.RandomState(seed).permutation(n_docs)
    sizes = [int(n_docs * r + 1e-9) for r in ratios[:-1]]  # the epsilon keeps 0.7 x 10 from flooring to 6
    cuts = np.cumsum(sizes)
    return [np.sort(part) for part in np.split(order, cuts)]


def _stratified_take(presence: np.ndarray, fraction: float, order: int) -> np.ndarray:
    """Row positions of `presence` that iterative stratification puts in a subset of about `fraction`.

    presence: (n_rows, n_labels) 0/1 matrix (zero label columns allowed: rows are then placed at random).
    """
    from skmultilearn.model_selection import IterativeStratification

    n_rows = presence.shape[0]
    if fraction <= 0 or n_rows < 2:
        return np.zeros(0, dtype=np.int64)
    stratifier = IterativeStratification(
        n_splits=2, order=order, sample_distribution_per_fold=[fraction, 1.0 - fraction]
    )
    # split() yields the first fold (the `fraction` part) as its "test" indices
    _, taken = next(stratifier.split(np.zeros((n_rows, 1)), presence))
    return np.asarray(taken, dtype=np.int64)


def iterative_split(presence: np.ndarray, ratios: Sequence[float], seed: int, order: int = 2) -> list[np.ndarray]:
    """Iterative stratification of documents into subsets of the given ratios (scikit-multilearn).

    presence: (n_docs, n_labels) 0/1 matrix of the labels to stratify on.
    ratios: the wanted share of each subset, e.g. (0.6, 0.2, 0.2) for train/dev/test.
    seed: the same seed gives the same split.
    order: label-combination order (1: single labels as in Sechidis et al.; 2: also label pairs, the
        default of skmultilearn's `iterative_train_test_split`, which the benchmark used).

    The last subset is split off first, then the one before it from the rest with its ratio rescaled
    (dev = 0.2 / 0.8 of what test left), down to the first, which keeps the remainder. Documents are
    shuffled with `seed` first, because skmultilearn assigns documents in input order and uses numpy's
    global random state only to break ties: without the shuffle, file order would decide the split. The
    global state is seeded for the call and restored afterwards. Returns one sorted index array per ratio.
    """
    presence = np.asarray(presence)
    n_docs = presence.shape[0]
    saved = np.random.get_state()
    try:
        np.random.seed(seed)
        remaining = np.random.permutation(n_docs)
        subsets: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(ratios)
        for position in range(len(ratios) - 1, 0, -1):
            share = sum(ratios[: position + 1])
            fraction = ratios[position] / share if share > 0 else 0.0
            taken = _stratified_take(presence[remaining], fraction, order)
            mask = np.zeros(len(remaining), dtype=bool)
            mask[taken] = True
            subsets[position] = np.sort(remaining[mask])
            remaining = remaining[~mask]
        subsets[0] = np.sort(remaining)
    finally:
        np.random.set_state(saved)
    return subsets


def _none_if_nan(value: float) -> float | None:
    """None for nan: JSON has no NaN, and split.json must stay standard JSON."""
    return None if np.isnan(value) else value


def _nonempty(subsets: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(s, dtype=np.int64) for s in subsets if len(s)]


def label_distribution(presence: np.ndarray, subsets: Sequence[np.ndarray]) -> tuple[float, list[int]]:
    """Label Distribution (LD) of Sechidis et al. (2011): how far each subset's label balance is from the whole.

        LD = 1/q  sum_j  1/k  sum_i  | |S_i^j| / (|S_i| - |S_i^j|)  -  |D^j| / (|D| - |D^j|) |

    with D the documents (rows of presence), S_1..S_k the non-empty subsets, q the labels, X^j the documents
    of X holding label j. Lower is better; 0 means every subset has the corpus's positive/negative ratio.

    presence: (n_docs, n_labels) 0/1 matrix. subsets: index arrays into its rows.
    Returns (LD, undefined): the ratio has no value for a label in every document of D or of a subset
    (no negative example): such label columns are left out of the mean and their indices returned.
    LD is nan when no label is left.
    """
    presence = np.asarray(presence, dtype=np.float64)
    subsets = _nonempty(subsets)
    positives = presence.sum(axis=0)
    negatives = presence.shape[0] - positives
    terms = []
    undefined = []
    for j in range(presence.shape[1]):
        sub_pos = np.array([presence[s, j].sum() for s in subsets])
        sub_neg = np.array([len(s) for s in subsets]) - sub_pos
        if negatives[j] == 0 or (sub_neg == 0).any():
            undefined.append(j)
            continue
        terms.append(np.abs(sub_pos / sub_neg - positives[j] / negatives[j]).mean())
    return (float(np.mean(terms)) if terms else float("nan")), undefined


def label_proportion_deviation(presence: np.ndarray, subsets: Sequence[np.ndarray]) -> float:
    """Mean absolute deviation of each subset's share of documents holding a label from the corpus's share.

        LPD = 1/q  sum_j  1/k  sum_i  | |S_i^j| / |S_i|  -  |D^j| / |D| |

    The same idea as LD on proportions instead of positive/negative ratios, so it is defined for a label
    found in every document (NestedClinBr's `Problema`). presence: (n_docs, n_labels) 0/1 matrix;
    subsets: index arrays into its rows (empty ones ignored). nan when there is no label.
    """
    presence = np.asarray(presence, dtype=np.float64)
    subsets = _nonempty(subsets)
    if presence.shape[1] == 0 or not subsets:
        return float("nan")
    corpus_share = presence.mean(axis=0)
    deviations = np.array([np.abs(presence[s].mean(axis=0) - corpus_share) for s in subsets])  # (k, q)
    return float(deviations.mean())


def examples_distribution(subsets: Sequence[np.ndarray], ratios: Sequence[float]) -> float:
    """Examples Distribution (ED) of Sechidis et al. (2011): how far subset sizes are from the asked sizes.

        ED = 1/k  sum_i  | |S_i| - c_i |,   c_i = ratio_i x |D|

    in documents; subsets: index arrays, one per ratio; |D| is their total size.
    """
    sizes = np.array([len(s) for s in subsets], dtype=np.float64)
    wanted = np.asarray(ratios, dtype=np.float64) * sizes.sum()
    return float(np.abs(sizes - wanted).mean())


@dataclass
class SplitResult:
    """A corpus split into train/dev/test, with what is needed to write and report it.

    docs, doc_ids, indices: per split name; `indices` are positions in the file the documents came from
    (the fixed test file for a fixed test set, else the corpus file).
    matrix: label counts over all documents, rows in the order train, dev, test.
    """

    method: str
    seed: int
    ratios: list[float]
    order: int
    min_docs_per_label: int
    spans_key: str
    docs: dict[str, list[Doc]]
    doc_ids: dict[str, list[str]]
    indices: dict[str, list[int]]
    matrix: LabelMatrix
    excluded_labels: dict[str, int]
    uninformative_labels: list[str]
    fixed_test: bool = False
    quality: dict[str, Any] = field(default_factory=dict)

    def rows(self, name: str) -> np.ndarray:
        """Row indices of split `name` in `matrix` (rows run train, dev, test)."""
        start = sum(len(self.docs[n]) for n in SPLIT_NAMES[: SPLIT_NAMES.index(name)])
        return np.arange(start, start + len(self.docs[name]))

    def label_table(self) -> dict[str, dict[str, dict[str, int]]]:
        """{label: {split name or "all": {"documents": n, "entities": n}}}."""
        table: dict[str, dict[str, dict[str, int]]] = {}
        presence = self.matrix.presence
        for j, label in enumerate(self.matrix.labels):
            table[label] = {
                name: {
                    "documents": int(presence[self.rows(name), j].sum()),
                    "entities": int(self.matrix.counts[self.rows(name), j].sum()),
                }
                for name in SPLIT_NAMES
            }
            table[label]["all"] = {
                "documents": int(presence[:, j].sum()),
                "entities": int(self.matrix.counts[:, j].sum()),
            }
        return table

    def to_dict(self) -> dict[str, Any]:
        """The content of split.json."""
        return {
            "method": self.method,
            "seed": self.seed,
            "ratios": self.ratios,
            "fixed_test": self.fixed_test,
            "order": self.order,
            "min_docs_per_label": self.min_docs_per_label,
            "spans_key": self.spans_key,
            "sizes": {name: len(self.docs[name]) for name in SPLIT_NAMES},
            "doc_ids": self.doc_ids,
            "indices": self.indices,
            "excluded_labels": self.excluded_labels,
            "uninformative_labels": self.uninformative_labels,
            "quality": self.quality,
            "labels": self.label_table(),
        }

    def format_table(self) -> str:
        """Label x split table (documents and entities), quality figures and excluded labels, for the terminal."""
        table = self.label_table()
        columns = [*SPLIT_NAMES, "all"]
        width = max([len("label"), len("documents"), *(len(label) for label in table)])
        sizes = {name: len(self.docs[name]) for name in SPLIT_NAMES}
        sizes["all"] = sum(sizes.values())
        head = f"{'':<{width}}" + "".join(f"  {name:>14}" for name in columns)
        sub = f"{'label':<{width}}" + "".join(f"  {'docs':>6} {'ents':>7}" for _ in columns)
        lines = [head, sub, "-" * len(sub)]
        lines.append(f"{'documents':<{width}}" + "".join(f"  {sizes[n]:>6} {'':>7}" for n in columns))
        for label, row in table.items():
            lines.append(
                f"{label:<{width}}"
                + "".join(f"  {row[n]['documents']:>6} {row[n]['entities']:>7}" for n in columns)
            )
        quality = self.quality
        lpd = quality["label_proportion_deviation"]
        lines += [
            "",
            f"method {self.method}, seed {self.seed}, ratios {'/'.join(f'{r:g}' for r in self.ratios)}"
            + (" (train/dev of the rest; fixed test set)" if self.fixed_test else ""),
            "label distribution LD (Sechidis et al. 2011, lower is better): "
            + ("undefined" if quality["label_distribution"] is None else f"{quality['label_distribution']:.4f}")
            + (
                f" (undefined for {', '.join(quality['label_distribution_undefined'])}: present in every "
                "document of a subset)"
                if quality["label_distribution_undefined"]
                else ""
            ),
            "label proportion deviation LPD (lower is better): "
            + ("undefined" if lpd is None else f"{lpd:.4f}"),
            f"examples distribution ED (documents off the asked sizes): {quality['examples_distribution']:.2f}",
        ]
        if self.excluded_labels:
            excluded = ", ".join(f"{label} ({n} documents)" for label, n in self.excluded_labels.items())
            lines.append(f"excluded from stratification (< {self.min_docs_per_label} documents): {excluded}")
        if self.uninformative_labels:
            lines.append(
                "in every document, so no information for stratification: " + ", ".join(self.uninformative_labels)
            )
        return "\n".join(lines)


def split_corpus(
    docs: Sequence[Doc],
    *,
    method: str = "iterative",
    ratios: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 42,
    min_docs_per_label: int = 10,
    spans_key: str = "sc",
    order: int = 2,
    fixed_test: Sequence[Doc] | None = None,
) -> SplitResult:
    """Split documents into train/dev/test.

    docs: the documents to split.
    method: "iterative" (stratified on label presence) or "random".
    ratios: train/dev/test shares; with `fixed_test`, train/dev shares of `docs`.
    seed: the same seed gives the same split.
    min_docs_per_label: labels in fewer documents (of `docs`) are left out of the stratification matrix.
    spans_key: the span group holding the entities.
    order: label-combination order for iterative stratification (see `iterative_split`).
    fixed_test: a test set that comes with the corpus: kept as is, only `docs` is split.
    """
    method = SplitMethod(method).value
    docs = list(docs)
    test_docs = list(fixed_test) if fixed_test is not None else None
    ratios = check_ratios(ratios, 2 if test_docs is not None else 3)
    _check_split_options(docs, test_docs, min_docs_per_label, order, seed, spans_key)
    matrix = label_matrix(docs, spans_key)
    documents_per_label = matrix.documents_per_label()
    excluded = {label: n for label, n in documents_per_label.items() if n < min_docs_per_label}
    uninformative = [label for label, n in documents_per_label.items() if n == len(docs) and label not in excluded]
    if method == "iterative":
        kept = [j for j, label in enumerate(matrix.labels) if label not in excluded]
        parts = iterative_split(matrix.presence[:, kept], ratios, seed, order)
    else:
        parts = random_split(len(docs), ratios, seed)

    ids = document_ids(docs)
    split_docs = {name: [docs[i] for i in part] for name, part in zip(SPLIT_NAMES, parts)}
    split_ids = {name: [ids[i] for i in part] for name, part in zip(SPLIT_NAMES, parts)}
    indices = {name: [int(i) for i in part] for name, part in zip(SPLIT_NAMES, parts)}
    if test_docs is not None:
        split_docs["test"] = test_docs
        split_ids["test"] = document_ids(test_docs)
        indices["test"] = list(range(len(test_docs)))

    # Quality over every label of the final split (excluded ones too), train/dev/test rows in order.
    ordered = [doc for name in SPLIT_NAMES for doc in split_docs[name]]
    all_labels = sorted(set(matrix.labels) | set(label_matrix(test_docs or [], spans_key).labels))
    result = SplitResult(
        method=method, seed=seed, ratios=ratios, order=order, min_docs_per_label=min_docs_per_label,
        spans_key=spans_key, docs=split_docs, doc_ids=split_ids, indices=indices,
        matrix=label_matrix(ordered, spans_key, labels=all_labels), excluded_labels=excluded,
        uninformative_labels=uninformative, fixed_test=test_docs is not None,
    )
    result.quality = split_quality(result)
    return result


def _check_split_options(
    docs: list[Doc], test_docs: list[Doc] | None, min_docs_per_label: int, order: int, seed: int, spans_key: str
) -> None:
    """Raise ValueError for options of `split_corpus` that have no meaning, before anything is split."""
    if not docs:
        raise ValueError("no documents to split")
    if min_docs_per_label < 0:
        raise ValueError(f"min_docs_per_label must be >= 0, got {min_docs_per_label}")
    if order < 1:
        raise ValueError(f"order must be >= 1 (1: labels, 2: label pairs), got {order}")
    if not 0 <= seed < 2**32:  # numpy's seeds
        raise ValueError(f"seed must be between 0 and 2**32 - 1, got {seed}")
    check_spans_key(docs, spans_key)
    if test_docs is not None:
        check_spans_key(test_docs, spans_key, where="fixed test set")


def split_quality(result: SplitResult) -> dict[str, Any]:
    """The quality figures of a split, over every label of `result.matrix` (split.json's `quality`)."""
    subsets = [result.rows(name) for name in SPLIT_NAMES]
    presence = result.matrix.presence
    ld, undefined = label_distribution(presence, subsets)
    # ED measures the algorithm, so only the subsets it made count (not a fixed test set).
    made = subsets[:2] if result.fixed_test else subsets
    return {
        "label_distribution": _none_if_nan(ld),
        "label_distribution_undefined": [result.matrix.labels[j] for j in undefined],
        "label_proportion_deviation": _none_if_nan(label_proportion_deviation(presence, subsets)),
        "examples_distribution": examples_distribution(made, result.ratios),
    }


def write_split(result: SplitResult, output_dir: str | Path, progress: Progress | None = None) -> list[Path]:
    """Write train.spacy, dev.spacy, test.spacy and split.json into `output_dir`; return their paths.

    progress: shows the writing of each file (default: nothing).
    Raises OSError naming the path when `output_dir` is a file or cannot be created or written.
    """
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "it is a file, not a folder", str(output_dir))
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SPLIT_NAMES:
        doc_bin = DocBin(store_user_data=True)
        docs = result.docs[name]
        for doc in progress(docs, f"writing {name}.spacy", len(docs)) if progress is not None else docs:
            doc_bin.add(doc)
        path = output_dir / f"{name}.spacy"
        doc_bin.to_disk(path)
        written.append(path)
    path = output_dir / "split.json"
    path.write_text(json.dumps(result.to_dict(), ensure_ascii=False, indent=2), encoding="utf8")
    written.append(path)
    return written
