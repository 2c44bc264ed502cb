"""Running a pipeline over notes: lazily, in input order, a note the pipeline fails on costing only itself, and a
note longer than the pipeline takes annotated in pieces joined back into one doc with the note's exact text."""

from __future__ import annotations

import itertools
import re
import warnings
from collections import deque
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, NamedTuple, Optional, Sequence

import numpy
from spacy.language import Language
from spacy.tokens import Doc

from ..corpus import LONE_SURROGATE, USER_DATA_KEY, excerpt
from .notes import AnnotationReport, Note

# The longest piece of a note given to the pipeline: a tenth of spaCy's max_length, about 20,000 tokens, which a
# CNN or a strided transformer annotates in a few hundred MB.
MAX_PIECE_CHARS = 100_000
# Where `split_text` cuts, best first: after a blank line, a line end, a sentence end, any whitespace.
BOUNDARIES = (re.compile(r"\n[^\S\n]*\n\s*"), re.compile(r"\n\s*"), re.compile(r"[.!?]\s+"), re.compile(r"\s+"))


def annotate_notes(
    nlp: Language,
    notes: Iterable[Note],
    *,
    batch_size: int = 16,
    n_process: int = 1,
    spans_key: str = "sc",
    report: Optional[AnnotationReport] = None,
) -> Iterator[Doc]:
    """Run `nlp` over the notes, lazily, in input order; a note that cannot be annotated is reported and skipped.

    nlp: a pipeline writing entities to `doc.spans[spans_key]` (a `clinical_tagger`, `spancat`...).
    notes: from `read_notes`, or built by hand.
    batch_size: notes (pieces of notes) per `nlp.pipe` batch. n_process: worker processes (1: this process).
    report: counts notes and entities per label, and lists each note skipped with its origin and the reason: a text
        that is not a string, is empty or cannot be written as UTF-8, or that the pipeline fails on. Without a
        report, such a note raises ValueError naming it.
    A note longer than `MAX_PIECE_CHARS` (or `nlp.max_length`) is annotated in pieces (`split_text`) joined into one
    doc (`join_pieces`). The notes of a batch that fails are annotated again one by one: a bad note costs only
    itself. While this runs, the pipeline's error handler (`nlp.set_error_handler`) is replaced; it is restored after.
    Each doc carries its note id (`doc.user_data["clinical_pt"]["doc_id"]`, which names the exported files) and
    always has `doc.spans[spans_key]`, empty when nothing was found.
    """
    with _recording_errors(nlp) as recorder:
        run = _Run(nlp, iter(notes), recorder, batch_size, n_process, spans_key, report)
        while True:
            yield from run.one_pass()
            if not run.stopped:  # else a component ended nlp.pipe early: go on with the notes after
                return


class _Started(NamedTuple):
    """A note handed to nlp.pipe: its pieces, its number there, and the docs of its pieces come out so far."""

    note: Note
    pieces: list[str]
    number: int
    docs: list[Doc]


class _Run:
    """One `annotate_notes` call: the notes handed to nlp.pipe and what has come out of it."""

    def __init__(self, nlp: Language, notes: Iterator[Note], recorder: _ErrorRecorder, batch_size: int,
                 n_process: int, spans_key: str, report: Optional[AnnotationReport]) -> None:
        self.nlp, self.notes, self.recorder, self.report = nlp, notes, recorder, report
        self.batch_size, self.n_process, self.spans_key = batch_size, n_process, spans_key
        self.limit = min(MAX_PIECE_CHARS, nlp.max_length)
        self.numbers = itertools.count()
        # The notes whose pieces are in nlp.pipe, in order, with the docs of their pieces come out so far.
        self.started: deque[_Started] = deque()
        # An error of the notes' iterator itself (or a note skipped without a report): it ends the run, once the
        # notes before it are out. Raised from inside nlp.pipe it could leave worker processes blocked on a full pipe.
        self.input_errors: list[Exception] = []
        self.stopped = False  # the last pass ended early: a component raised past the error handler

    def one_pass(self) -> Iterator[Doc]:
        """The docs of one `nlp.pipe` over the notes not yet handed to it, until they run out or a component ends
        it (`self.stopped`)."""
        outputs = self.nlp.pipe(self.piece_docs(), as_tuples=True, batch_size=self.batch_size,
                                n_process=self.n_process)
        self.stopped = False
        while True:
            try:
                doc, (number, piece) = next(outputs)
            except StopIteration:
                break
            except Exception:
                if not self.started:
                    raise  # no note was in the pipeline: the pipeline itself is broken
                self.stopped = True
                break
            # A note left behind misses pieces: they were in a batch that failed and left nlp.pipe's output.
            while number > self.started[0].number:
                yield from self.alone(self.started.popleft())
            entry = self.started[0]
            entry.docs.append(doc)
            if piece == len(entry.pieces) - 1:
                self.started.popleft()
                if len(entry.docs) == len(entry.pieces):
                    yield _annotated_doc(entry.note, entry.docs, self.spans_key, self.report)
                else:
                    yield from self.alone(entry)
        while self.started:
            yield from self.alone(self.started.popleft())
        if self.input_errors:
            raise self.input_errors[0]

    def piece_docs(self) -> Iterator[tuple[Doc, tuple[int, int]]]:
        """The docs of the notes' pieces, each with (note number, piece number) as its context in nlp.pipe."""
        try:
            for note in self.notes:
                pieces = _note_pieces(note, self.limit, self.report)
                if pieces is None:
                    continue
                try:
                    docs = [self.nlp.make_doc(piece) for piece in pieces]
                except Exception as err:  # the tokenizer, on an input it was never shown
                    _skip(note, _failure(err), self.report)
                    continue
                number = next(self.numbers)
                self.started.append(_Started(note, pieces, number, []))
                yield from ((doc, (number, piece)) for piece, doc in enumerate(docs))
        except Exception as err:
            self.input_errors.append(err)

    def alone(self, entry: _Started) -> Iterator[Doc]:
        """The note annotated on its own (in this process): its doc, or nothing when it fails (reported)."""
        errors = self.recorder.errors
        errors.clear()
        try:
            docs = list(self.nlp.pipe(entry.pieces, batch_size=self.batch_size))
        except Exception as err:  # a component that raises past spaCy's error handler
            docs, errors[:] = [], [err]
        if len(docs) == len(entry.pieces):
            yield _annotated_doc(entry.note, docs, self.spans_key, self.report)
        else:
            _skip(entry.note, _failure(errors[-1]) if errors else "could not be annotated", self.report)


class _ErrorRecorder:
    """A spaCy error handler that keeps the errors: the failing batch's docs are left out of nlp.pipe's output, and
    `annotate_notes` annotates their notes again one by one. A class, not a closure: worker processes pickle it."""

    def __init__(self) -> None:
        self.errors: list[Exception] = []

    def __call__(self, name: Optional[str], component: Any, docs: Any, error: Exception) -> None:
        self.errors.append(error)


@contextmanager
def _recording_errors(nlp: Language) -> Iterator[_ErrorRecorder]:
    """Swap the pipeline's error handlers for an `_ErrorRecorder`, and restore them after."""
    recorder = _ErrorRecorder()
    default = nlp.default_error_handler
    handlers = {name: pipe.get_error_handler() for name, pipe in nlp.pipeline if hasattr(pipe, "get_error_handler")}
    nlp.set_error_handler(recorder)
    try:
        yield recorder
    finally:
        nlp.default_error_handler = default
        for name, pipe in nlp.pipeline:
            if name in handlers:
                pipe.set_error_handler(handlers[name])


def _note_pieces(note: Note, limit: int, report: Optional[AnnotationReport]) -> Optional[list[str]]:
    """The pieces of the note's text for the pipeline, or None (reported) when the text cannot be annotated."""
    text = note.text
    if not isinstance(text, str):
        problem = f"the text is not a string ({type(text).__name__})"
    elif not text.strip():
        problem = "the text is empty"
    elif surrogate := LONE_SURROGATE.search(text):
        problem = (
            f"the text holds an unpaired surrogate at character {surrogate.start()} (it cannot be written as UTF-8)"
        )
    else:
        return split_text(text, limit)
    _skip(note, problem, report)
    return None


def _failure(err: Exception) -> str:
    # An exception message may quote the note: an excerpt at most.
    return f"could not be annotated ({type(err).__name__}: {excerpt(str(err))})"


def _skip(note: Note, problem: str, report: Optional[AnnotationReport]) -> None:
    if report is None:
        raise ValueError(f"{note.origin}: {problem}")
    report.skip(note.origin, problem)


def _annotated_doc(note: Note, docs: list[Doc], spans_key: str, report: Optional[AnnotationReport]) -> Doc:
    doc = docs[0] if len(docs) == 1 else join_pieces(docs)
    doc.user_data[USER_DATA_KEY] = {"doc_id": note.doc_id, "entities": {}}
    if spans_key not in doc.spans:
        doc.spans[spans_key] = []
    if report is not None:
        report.notes += 1
        report.entities.update(span.label_ for span in doc.spans[spans_key])
    return doc


def split_text(text: str, limit: int) -> list[str]:
    """`text` cut into pieces of at most `limit` characters that join back into it exactly.

    Each cut is the last boundary of the best kind found in the second half of the piece: after a blank line, then
    after a line end, a sentence end, any whitespace (whitespace stays with the piece before it, so no token is
    cut); a run of `limit` characters without whitespace is cut where it must.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    pieces, start = [], 0
    while len(text) - start > limit:
        window = text[start:start + limit]
        cut = next((end for end in (_last_boundary(b, window, limit // 2) for b in BOUNDARIES) if end), limit)
        pieces.append(window[:cut])
        start += cut
    pieces.append(text[start:])
    return pieces


def _last_boundary(pattern: re.Pattern, window: str, after: int) -> int:
    """The end of the last match of `pattern` in `window` starting at `after` or later; 0 when there is none."""
    end = 0
    for match in pattern.finditer(window, after):
        end = match.end()
    return end


def join_pieces(docs: Sequence[Doc]) -> Doc:
    """One doc from the docs of consecutive pieces of a text (`split_text`), as if the text had been annotated whole.

    `Doc.from_docs` joins the tokens, `doc.spans`, entities, tensors and token and span extensions; span group attrs
    and doc extensions it leaves out. Here the groups' `scores` are joined, their other attrs (the tagger's
    `columns`, which describe the pipeline) are the first piece's, and doc extensions with one row per token (the
    tagger's `doc._.clinical_probs`) are joined; other doc extensions are not kept.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\[W101\]")  # doc extensions: joined below
        joined = Doc.from_docs(list(docs), ensure_whitespace=False)
    for key in joined.spans:
        groups = [doc.spans[key] for doc in docs if key in doc.spans]
        attrs = dict(groups[0].attrs)
        scores = [group.attrs.get("scores") for group in groups]
        if all(s is not None and len(s) == len(group) for s, group in zip(scores, groups)):
            attrs["scores"] = numpy.concatenate([numpy.asarray(s) for s in scores])
        else:
            attrs.pop("scores", None)  # scores missing for some pieces cannot be attributed to spans
        joined.spans[key].attrs.update(attrs)
    for key in docs[0].user_data:
        if isinstance(key, tuple) and len(key) == 4 and key[0] == "._." and key[2] is None:
            rows = [doc.user_data.get(key) for doc in docs]
            if all(isinstance(r, numpy.ndarray) and r.ndim and len(r) == len(doc) for r, doc in zip(rows, docs)):
                joined.user_data[key] = numpy.concatenate(rows)
    return joined
