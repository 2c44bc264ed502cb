"""The `spacy_clinical_pt.ClinicalNER.v1` spacy-llm task: the benchmark paper's few-shot prompt, reply parsing, and
alignment of the extracted texts to the note, so that an LLM pipeline is evaluated like a trained one.

The prompt is the paper's (Table 3), kept as two Jinja files in `templates/` (`clinical_ner.system.jinja`,
`clinical_ner.user.jinja`); a `template_dir` with two files of the same names replaces them. The system template
receives `entities` (the labels joined by ", "), `example_text` and `example_response` (both None when zero-shot);
the user template receives `input_text` (the note).

The one few-shot example is read at runtime from a training DocBin (corpus text is never committed), chosen by
document id or by a selection rule, or given inline as `{"text": ..., "entities": [{"label", "text"}, ...]}`.

Where the output lives on a `Doc`:
- `doc.spans[spans_key]` (default "sc"): one span per located entity, overlapping ones included, with
  `attrs["scores"]` all 1.0 (float32, as spaCy's `spancat` stores scores; an LLM reply gives no probability).
- `doc.user_data[USAGE_KEY]`: the reply's accounting (`ChatResponse.accounting()`, when the model returns
  `ChatResponse`s) and what became of the extracted items (`REPLY_COUNTS`), never any text of the note.

A reply that cannot be read as entities (`parse_error`) is taken out of the model client's cache
(`ChatResponse.forget`), so a rerun asks for it again. Building the task also keeps spacy-llm's logger from
logging prompts and replies (`privacy.guard_spacy_llm_logger`).
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

import jinja2
import numpy
from spacy.tokens import Doc, Span, SpanGroup
from spacy_llm.registry import registry
from spacy_llm.util import split_labels

from ..convert.jsonspans import JSONProblem, parse_json
from ..corpus import align_span, doc_id
from .examples import checked_example, example_from_docbin, is_entity_item
from .privacy import guard_spacy_llm_logger
from .usage import USAGE_KEY, ChatResponse

logger = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).parent / "templates"
SYSTEM_TEMPLATE = "clinical_ner.system.jinja"
USER_TEMPLATE = "clinical_ner.user.jinja"
# What `parse_responses` counts per doc, in this order after the accounting fields in `doc.user_data[USAGE_KEY]`.
REPLY_COUNTS = (
    "extracted",  # well-formed items in the reply: exact + case_insensitive + hallucinations + type_errors
    "spans",  # spans set on the doc: exact + case_insensitive - duplicates - unaligned
    "exact",  # items found in the note with the same case
    "case_insensitive",  # items found only when case is ignored
    "hallucinations",  # items whose text is nowhere in the note
    "type_errors",  # items whose label is not one of the task's labels
    "invalid_items",  # reply items without a string "label" and a non-blank string "text"
    "duplicates",  # located items that gave a span (start, end, label) already set
    "unaligned",  # located items that cover no whole token
)
# The counts that are logged (at DEBUG, without text) when not zero.
PROBLEM_COUNTS = ("hallucinations", "type_errors", "invalid_items", "duplicates", "unaligned")
# A fenced block in a reply (```json ... ```): its body is read before the rest of the reply.
FENCE = re.compile(r"```[A-Za-z]*[^\S\n]*\n?(.*?)```", re.DOTALL)

Reply = Union[ChatResponse, str]
CharSpan = Tuple[int, int, str]  # (start, end, label): character offsets into the note, end exclusive


class ParsedReply(NamedTuple):
    """An LLM reply read as entities.

    items: the well-formed `{"label": str, "text": str}` items, in the reply's order.
    error: why no list of entities could be read (no text of the reply in it), else None.
    invalid_items: items skipped because they lack a string "label" or a non-blank string "text".
    """

    items: List[Dict[str, str]]
    error: Optional[str]
    invalid_items: int


@registry.llm_tasks("spacy_clinical_pt.ClinicalNER.v1")
def make_clinical_ner_task(
    labels: Union[List[str], str],
    template_dir: Optional[Union[str, Path]] = None,
    example_path: Optional[Union[str, Path]] = None,
    example_id: Optional[str] = None,
    example_select: str = "shortest_with_all_labels",
    example: Optional[Dict[str, Any]] = None,
    spans_key: str = "sc",
    gold_key: str = "sc",
) -> ClinicalNERTask:
    """The clinical NER task with the paper's prompt.

    labels: the entity labels to extract, a list or a comma-separated string; the prompt names them in this order.
    template_dir: a folder holding `clinical_ner.system.jinja` and `clinical_ner.user.jinja`; default the package's.
    example_path: a training `.spacy` file to draw the few-shot example from (gold spans in `doc.spans[gold_key]`).
    example_id: the document id (`spacy_clinical_pt.corpus.doc_id`) of the example in `example_path`.
    example_select: without `example_id`, "shortest_with_all_labels" (the shortest note holding every label, the
        first one on ties) or "first" (the file's first note).
    example: an inline example `{"text": str, "entities": [{"label": str, "text": str}, ...]}` instead of a file.
    spans_key: the `doc.spans` key the extracted entities go to.
    gold_key: the `doc.spans` key of the gold entities in `example_path`.
    Without `example_path` and `example` the task is zero-shot and the prompt holds no example.
    """
    guard_spacy_llm_logger()
    label_list = split_labels(labels)
    if not label_list or not all(label_list):
        raise ValueError(f"labels must name at least one entity label, with no empty name (got {labels!r})")
    if len(set(label_list)) != len(label_list):
        raise ValueError(f"labels must not repeat a label (got {label_list})")
    if example is not None and example_path is not None:
        raise ValueError("give the few-shot example either inline (example) or from a file (example_path), not both")
    if example_id is not None and example_path is None:
        raise ValueError(f"example_id {example_id!r} needs example_path, the .spacy file that holds it")
    if example is not None:
        chosen: Optional[Dict[str, Any]] = checked_example(example)
    elif example_path is not None:
        chosen = example_from_docbin(Path(example_path), label_list, example_id, example_select, gold_key)
    else:
        chosen = None
    folder = Path(template_dir) if template_dir is not None else TEMPLATE_DIR
    system_path, user_path = folder / SYSTEM_TEMPLATE, folder / USER_TEMPLATE
    return ClinicalNERTask(
        labels=label_list,
        system_template=read_template(system_path),
        user_template=read_template(user_path),
        example=chosen,
        spans_key=spans_key,
        template_names=(str(system_path), str(user_path)),
    )


class ClinicalNERTask:
    """Extracts clinical entities with one chat request per note (a non-sharding spacy-llm task)."""

    def __init__(
        self,
        labels: Sequence[str],
        system_template: str,
        user_template: str,
        example: Optional[Dict[str, Any]],
        spans_key: str = "sc",
        template_names: Tuple[str, str] = ("the system template", "the user template"),
    ) -> None:
        """labels: the entity labels to extract, in prompt order.
        system_template, user_template: Jinja sources of the two chat messages (variables in the module docstring).
        example: the few-shot example `{"text", "entities": [{"label", "text"}, ...]}`, or None for zero-shot.
        spans_key: the `doc.spans` key the extracted entities go to.
        template_names: how errors name the two templates (their files).
        A template that does not parse or render raises ValueError naming it (and the line).
        """
        self._labels = tuple(labels)
        self._spans_key = spans_key
        self._template_sources = (system_template, user_template)
        environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
        system_name, user_name = template_names
        # The system message is the same for every note: rendered once, so a template error shows at assembly.
        self._system_prompt = render_template(
            compile_template(environment, system_template, system_name), system_name,
            entities=", ".join(self._labels),
            example_text=example["text"] if example else None,
            example_response=json.dumps(example["entities"], ensure_ascii=False) if example else None,
        )
        self._user_template = compile_template(environment, user_template, user_name)
        render_template(self._user_template, user_name, input_text="")  # an unknown variable shows here too

    @property
    def labels(self) -> Tuple[str, ...]:
        return self._labels

    @property
    def prompt_template(self) -> str:
        """The two Jinja sources, for spacy-llm's cache to tell prompts apart (no example text in it)."""
        return "\n".join(self._template_sources)

    def generate_prompts(self, docs: Iterable[Doc]) -> Iterable[list]:
        """One chat per doc: `[{"role": "system", "content": ...}, {"role": "user", "content": ...}]`.

        The element type is the bare `list`: spacy-llm's type check calls `issubclass` on it, which a
        parameterised `List[Dict[str, str]]` makes raise.
        """
        for doc in docs:
            yield [
                {"role": "system", "content": self._system_prompt},
                {"role": "user", "content": self._user_template.render(input_text=doc.text)},
            ]

    def parse_responses(
        self, docs: Iterable[Doc], responses: Iterable[Union[ChatResponse, str, list]]
    ) -> Iterable[Doc]:
        """Set each doc's spans and accounting from its reply; a bad reply is counted, never raised.

        responses: per doc, what the model returned: a 1-element list (spacy-llm wraps non-sharding replies) or
            the bare reply, a `ChatResponse` or a `str`.
        """
        for index, (doc, response) in enumerate(zip(docs, responses)):
            self.annotate(doc, single_reply(response), index)
            yield doc

    def annotate(self, doc: Doc, reply: Reply, index: int = 0) -> None:
        """Read one reply into `doc.spans[spans_key]` and `doc.user_data[USAGE_KEY]`.

        index: the doc's position in its batch, to name it in log lines when it has no document id.
        """
        usage: Dict[str, Any] = {}
        if isinstance(reply, ChatResponse):
            usage.update(reply.accounting())
            text, request_error = reply.text, reply.error
        else:
            text, request_error = reply, None
        counts: Counter = Counter()
        spans: List[Span] = []
        parse_error = None
        where = describe(doc, index)
        if request_error is not None:
            logger.warning("LLM request failed for %s: %s", where, request_error)
        else:
            parsed = parse_reply(text)
            parse_error = parsed.error
            if parse_error is not None:
                logger.warning("LLM reply for %s could not be read: %s", where, parse_error)
                if isinstance(reply, ChatResponse):
                    reply.forget()  # out of the client's cache: a rerun asks again
            found, located = locate(doc, parsed.items, self._labels)
            spans, aligned = token_spans(doc, found)
            counts.update(located)
            counts.update(aligned)
            counts["extracted"] = len(parsed.items)
            counts["invalid_items"] = parsed.invalid_items
        counts["spans"] = len(spans)
        problems = {key: counts[key] for key in PROBLEM_COUNTS if counts[key]}
        if problems:
            logger.debug("LLM reply for %s: %s", where, problems)
        usage.update({key: counts[key] for key in REPLY_COUNTS})
        usage["parse_error"] = parse_error
        usage["request_error"] = request_error
        doc.user_data[USAGE_KEY] = usage
        doc.spans[self._spans_key] = SpanGroup(
            doc, name=self._spans_key, spans=spans, attrs={"scores": numpy.ones(len(spans), dtype="float32")}
        )


def parse_reply(text: str) -> ParsedReply:
    """Read a reply that should be a JSON list of `{"label", "text"}` objects.

    Also read: the JSON inside ``` fences (tried first), a single object (a list of one), an object wrapping a
    list (`{"entities": [...]}`: its first list), and JSON with prose before or after (the first balanced JSON
    list or object that parses). Extra keys of an item are dropped. A non-empty list none of whose items is
    `{"label": str, "text": str}` is an error (its items are counted as invalid), not a reply without entities.
    """
    if not text.strip():
        return ParsedReply([], "empty reply", 0)
    sources = [match.group(1) for match in FENCE.finditer(text)] + [text]
    errors = []
    for source in sources:
        value, error = first_json(source)
        if error is None:
            break
        errors.append(error)
    else:
        return ParsedReply([], errors[0], 0)
    if isinstance(value, dict):
        lists = [entry for entry in value.values() if isinstance(entry, list)]
        if "label" in value or "text" in value:
            value = [value]
        elif lists:
            value = lists[0]
        else:
            # The keys are the model's text (they may quote the note): counted, not named.
            keys = f"{len(value)} key" + ("" if len(value) == 1 else "s")
            return ParsedReply([], f"JSON object with {keys} holds no list of entities", 0)
    items = [{"label": entry["label"], "text": entry["text"]} for entry in value if is_entity_item(entry)]
    if value and not items:
        # Not a reply without entities: a reply in another shape, which must not pass for one.
        return ParsedReply([], f'none of the {len(value)} items of the reply is a {{"label", "text"}} object',
                           len(value))
    return ParsedReply(items, None, len(value) - len(items))


def first_json(text: str) -> Tuple[Any, Optional[str]]:
    """The first balanced JSON list or object in `text` that parses, and None; or None and why there is none.

    A bracket region that is balanced but does not parse is skipped whole (no partial salvage from inside a
    malformed list); an unclosed one ends the search, as the reply was cut off.
    """
    position, first_error = 0, None
    while True:
        start = min((i for i in (text.find("[", position), text.find("{", position)) if i >= 0), default=-1)
        if start < 0:
            return None, first_error or "no JSON list or object in the reply"
        end = closing_bracket(text, start)
        if end is None:
            return None, first_error or "unterminated JSON (the reply may have been cut off)"
        try:
            return parse_json(text[start:end]), None
        except JSONProblem as problem:
            # A position, a depth or a digit count, never the text; too deep or too long an integer is no crash.
            reason = f"malformed JSON: line {problem.line} {problem.reason}" if problem.malformed else problem.reason
            first_error = first_error or reason
        position = end


def closing_bracket(text: str, start: int) -> Optional[int]:
    """The offset just past the bracket that closes the one at `start` (strings skipped), or None if unclosed."""
    depth, in_string, escaped = 0, False, False
    for offset in range(start, len(text)):
        char = text[offset]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return offset + 1
    return None


def locate(
    doc_or_text: Union[Doc, str], items: Iterable[Dict[str, str]], labels: Iterable[str]
) -> Tuple[List[CharSpan], Counter]:
    """Find each extracted text in the note, in the order the reply lists them.

    doc_or_text: the note. items: `{"label", "text"}` dicts (as `parse_reply` gives them). labels: the allowed labels.
    Returns the located `(start, end, label)` character spans, in item order, and the counts `exact`,
    `case_insensitive`, `hallucinations`, `type_errors`.

    Each text (leading and trailing whitespace stripped) is searched from where the previous match started,
    then from the start of the note; with the same case first, then ignoring case. An occurrence already taken
    with the same label is passed over, so a word listed twice lands on its second occurrence. Searching from the
    previous match's start rather than its end finds an entity nested in the previous one (`peito` inside
    `dor no peito`), and the same text under a second label, where they are rather than further on.
    """
    text = doc_or_text.text if isinstance(doc_or_text, Doc) else doc_or_text
    allowed = set(labels)
    counts: Counter = Counter({key: 0 for key in ("exact", "case_insensitive", "hallucinations", "type_errors")})
    found: List[CharSpan] = []
    since = 0
    for item in items:
        label, piece = item["label"], item["text"].strip()
        # Labels are compared exactly, case included ("problema" is a type error): the prompt names them
        # exactly, so a changed case is a format error of the model, counted rather than silently repaired.
        if label not in allowed:
            counts["type_errors"] += 1
            continue
        match = None
        if piece:  # a blank text names nothing in the note
            for kind, flags in (("exact", 0), ("case_insensitive", re.IGNORECASE)):
                match = next_occurrence(text, piece, label, flags, since, found)
                if match is not None:
                    counts[kind] += 1
                    break
        if match is None:
            counts["hallucinations"] += 1
            continue
        found.append((match[0], match[1], label))
        since = match[0]
    return found, counts


def next_occurrence(
    text: str, piece: str, label: str, flags: int, since: int, taken: Sequence[CharSpan]
) -> Optional[Tuple[int, int]]:
    """The (start, end) of `piece` in `text` from `since` on, then from the start, not yet taken under `label`.

    When every occurrence is taken, the first one is returned anyway: a repeated extraction, which
    `token_spans` counts as a duplicate. None when `piece` is not in `text`.
    """
    occurrences = [match.span() for match in re.finditer(re.escape(piece), text, flags)]
    ordered = [span for span in occurrences if span[0] >= since] + [span for span in occurrences if span[0] < since]
    for start, end in ordered:
        if (start, end, label) not in taken:
            return start, end
    return ordered[0] if ordered else None


def token_spans(doc: Doc, found: Iterable[CharSpan]) -> Tuple[List[Span], Counter]:
    """Token spans for located character spans, sorted by start, end and label.

    Offsets inside a token expand to the covering tokens. Returns the spans and the counts `duplicates` (a span
    with the same tokens and label as one already made, kept once) and `unaligned` (no token covered).
    """
    counts: Counter = Counter({"duplicates": 0, "unaligned": 0})
    spans: Dict[Tuple[int, int, str], Span] = {}
    for start, end, label in found:
        span, _ = align_span(doc, start, end, label, "expand")
        if span is None:
            counts["unaligned"] += 1
        elif (span.start, span.end, label) in spans:
            counts["duplicates"] += 1
        else:
            spans[(span.start, span.end, label)] = span
    return [spans[key] for key in sorted(spans)], counts


def single_reply(response: Union[Reply, list]) -> Reply:
    """The one reply for a doc: spacy-llm wraps a non-sharding task's reply in a 1-element list."""
    if isinstance(response, (ChatResponse, str)):
        return response
    replies = list(response)
    if len(replies) != 1 or not isinstance(replies[0], (ChatResponse, str)):
        raise TypeError(
            "expected one reply per doc, a ChatResponse or a str (or a list of exactly one), got "
            f"{len(replies)} item(s) of type(s) {sorted({type(reply).__name__ for reply in replies})}"
        )
    return replies[0]


def describe(doc: Doc, index: int) -> str:
    """How log lines name a doc: its document id when it has one, else its position in the batch; never its text."""
    identifier = doc_id(doc)
    return f"doc {identifier!r}" if identifier is not None else f"doc #{index} of the batch"


def compile_template(environment: jinja2.Environment, source: str, name: str) -> jinja2.Template:
    """The compiled template; ValueError naming `name` (its file) and the line when it does not parse."""
    try:
        return environment.from_string(source)
    except jinja2.TemplateSyntaxError as err:
        raise ValueError(f"{name}:line {err.lineno}: the template does not parse ({err.message})") from None


def render_template(template: jinja2.Template, name: str, **variables: Any) -> str:
    """The rendered template; ValueError naming `name` when it does not render (e.g. an unknown variable)."""
    try:
        return template.render(**variables)
    except jinja2.TemplateError as err:
        raise ValueError(f"{name}: the template does not render ({err.message})") from None


def read_template(path: Path) -> str:
    """A template's Jinja source, with an error that names the file when it is missing."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: prompt template not found (a template_dir must hold {SYSTEM_TEMPLATE} and {USER_TEMPLATE})"
        )
    return path.read_text(encoding="utf8")
