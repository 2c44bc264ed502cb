"""Oversampling of training documents that hold rare labels (the paper's remedy for label imbalance).

`spacy_clinical_pt.OversampledCorpus.v1` reads a `.spacy` file like `spacy.Corpus.v1` and yields some
documents several times: while a label's entity count is below `target_ratio` x the average entity count per
label, a document holding that (rarest) label is replicated, picked at random (seeded) with a chance
proportional to how many entities of that label it holds, and never more than `max_replication` times in all.
The target is fixed from the counts before oversampling: replicated notes also raise the frequent labels, and a
moving target might never be reached. Each epoch draws its replicas anew (seed + epoch), so that over the epochs
more of a rare label's notes are repeated, not always the same few. Every component that learns from the
training examples sees the replicas (in the two-stage pipeline the tagger and spancat both).

The effective label distribution is reported: printed on the first epoch (counts before -> after), logged on every
epoch (logger "spacy_clinical_pt", INFO), and with `report_path` written as one JSON line per epoch (epoch,
documents yielded, entities per label), which `spacy train` alone does not show.

Use it in a training config:

    [corpora.train]
    @readers = "spacy_clinical_pt.OversampledCorpus.v1"
    path = ${paths.train}
    spans_key = "sc"
    target_ratio = 1.0
    max_replication = 5
    seed = ${system.seed}
    report_path = null
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence

from spacy.language import Language
from spacy.training import Corpus, Example
from spacy.util import registry
from wasabi import msg

logger = logging.getLogger("spacy_clinical_pt")


def oversampling_plan(
    doc_label_counts: Sequence[Counter],
    *,
    target_ratio: float = 1.0,
    max_replication: int = 5,
    seed: int = 0,
) -> list[int]:
    """How many times to yield each document so that rare labels approach the average label frequency.

    doc_label_counts: per document, its entity count per label.
    target_ratio: a label is rare while its count is below target_ratio x the mean count per label (before
        oversampling).
    max_replication: the most times one document may appear in all (1 turns oversampling off).
    seed: seeds the choice among the documents holding a rare label.
    RETURNS: one count (>= 1) per document.
    """
    check_oversampling(target_ratio, max_replication)
    copies = [1] * len(doc_label_counts)
    totals: Counter = Counter()
    for counts in doc_label_counts:
        totals.update(counts)
    if not totals:
        return copies
    target = target_ratio * sum(totals.values()) / len(totals)
    rng = random.Random(seed)
    exhausted: set[str] = set()
    while True:
        rare = sorted(
            (totals[label] / target, label) for label in totals if totals[label] < target and label not in exhausted
        )
        if not rare:
            break
        label = rare[0][1]
        candidates = [i for i, counts in enumerate(doc_label_counts) if counts[label] and copies[i] < max_replication]
        if not candidates:
            exhausted.add(label)  # every holder of the label is at max_replication: it cannot rise further
            continue
        chosen = rng.choices(candidates, weights=[doc_label_counts[i][label] for i in candidates])[0]
        copies[chosen] += 1
        totals.update(doc_label_counts[chosen])
    return copies


def check_oversampling(target_ratio: float, max_replication: int) -> None:
    """Raise ValueError for a target ratio that is not positive or a replication limit below 1."""
    if target_ratio <= 0:
        raise ValueError(f"target_ratio must be positive, got {target_ratio}")
    if max_replication < 1:
        raise ValueError(f"max_replication must be at least 1, got {max_replication}")


def label_counts(counts: Iterable[Counter], copies: Optional[Sequence[int]] = None) -> Counter:
    """Entity counts per label over documents, each weighted by its number of copies (default 1)."""
    total: Counter = Counter()
    for i, doc_counts in enumerate(counts):
        for label, n in doc_counts.items():
            total[label] += n * (copies[i] if copies is not None else 1)
    return total


@dataclass(kw_only=True)
class OversampledCorpus:
    """The examples of a `spacy.Corpus`, those holding rare labels yielded several times (see the module doc).

    corpus: the `spacy.Corpus` the examples are read from.
    name: names the corpus (its path) in the label counts printed on the first epoch.
    spans_key: the `doc.spans` group whose labels are counted.
    target_ratio, max_replication: as in `oversampling_plan`. seed: epoch n's plan is seeded with seed + n.
    report_path: a JSONL file to write the effective label distribution of each epoch to (None: none).
    before, after: entity counts per label of the last epoch, before and after oversampling.
    epochs: the epochs yielded so far.
    """

    corpus: Corpus
    name: str
    spans_key: str = "sc"
    target_ratio: float = 1.0
    max_replication: int = 5
    seed: int = 0
    report_path: Optional[Path] = None
    before: Counter = field(default_factory=Counter, init=False)
    after: Counter = field(default_factory=Counter, init=False)
    epochs: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        check_oversampling(self.target_ratio, self.max_replication)
        if self.report_path is not None:
            self.report_path = Path(self.report_path)
            self.report_path.parent.mkdir(parents=True, exist_ok=True)
            self.report_path.write_text("", encoding="utf8")  # this training's epochs only

    def __call__(self, nlp: Language) -> Iterator[Example]:
        """Yield the examples, replicated by the plan; replicas get their own copy of the predicted doc."""
        examples = list(self.corpus(nlp))
        counts = [Counter(span.label_ for span in eg.reference.spans.get(self.spans_key, [])) for eg in examples]
        copies = oversampling_plan(
            counts, target_ratio=self.target_ratio, max_replication=self.max_replication, seed=self.seed + self.epochs
        )
        self.before, self.after = label_counts(counts), label_counts(counts, copies)
        self._report(len(examples), sum(copies))
        self.epochs += 1
        for eg, n in zip(examples, copies):
            yield eg
            for _ in range(n - 1):
                # Separate predicted docs: the pipeline may annotate them during training.
                yield Example(eg.predicted.copy(), eg.reference)

    def _report(self, n_docs: int, n_yielded: int) -> None:
        """The epoch's effective distribution: logged, printed on the first epoch, written to `report_path`."""
        rows = ", ".join(f"{label} {self.before[label]} -> {self.after[label]}" for label in sorted(self.before))
        message = f"oversampling {self.name}: {n_docs} -> {n_yielded} documents; entities per label: {rows}"
        logger.info("epoch %d: %s", self.epochs, message)
        if self.epochs == 0:
            msg.info(message)
        if self.report_path is not None:
            line = {"epoch": self.epochs, "documents": n_yielded, "entities": dict(sorted(self.after.items()))}
            with self.report_path.open("a", encoding="utf8") as file:
                file.write(json.dumps(line) + "\n")


@registry.readers("spacy_clinical_pt.OversampledCorpus.v1")
def create_oversampled_corpus(
    path: Optional[Path],
    spans_key: str = "sc",
    target_ratio: float = 1.0,
    max_replication: int = 5,
    seed: int = 0,
    report_path: Optional[Path] = None,
    gold_preproc: bool = False,
    max_length: int = 0,
    limit: int = 0,
    augmenter: Optional[Callable] = None,
) -> OversampledCorpus:
    """The registered reader: `spacy.Corpus.v1` plus oversampling of documents with rare labels.

    path: the `.spacy` training file or folder.
    spans_key: the `doc.spans` key whose labels are counted.
    target_ratio: rare labels are raised towards target_ratio x the mean entity count per label.
    max_replication: the most times one document appears per epoch.
    seed: seeds the choice of documents to replicate (epoch n: seed + n).
    report_path: a JSONL file for the effective label distribution of each epoch (None: printed once, logged).
    gold_preproc, max_length, limit, augmenter: as in `spacy.Corpus.v1`.
    """
    if path is None:
        raise ValueError("OversampledCorpus needs a path to a .spacy file or folder (set [paths] train)")
    corpus = Corpus(Path(path), gold_preproc=gold_preproc, max_length=max_length, limit=limit, augmenter=augmenter)
    return OversampledCorpus(
        corpus=corpus, name=str(path), spans_key=spans_key, target_ratio=target_ratio,
        max_replication=max_replication, seed=seed, report_path=report_path,
    )
