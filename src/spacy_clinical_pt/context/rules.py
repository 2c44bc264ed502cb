"""ConText cue rules in medspaCy's JSON schema: read, validate, write.

A rule file is `{"context_rules": [{"literal": ..., "category": ..., "direction": ..., "pattern": ...,
"max_scope": ..., "allowed_types": ..., "metadata": ...}, ...]}`, the schema of medspaCy's
`ConTextRule.from_json`, so a medspaCy user's file loads unchanged. `literal` is the phrase matched
(case and accents ignored) unless `pattern`, a spaCy `Matcher` token pattern, is given.

Directions: FORWARD, BACKWARD and BIDIRECTIONAL cues modify the targets in their scope; a TERMINATE cue
ends the scope of the cues before (FORWARD) or after (BACKWARD) it; a PSEUDO cue modifies nothing and
cancels the cues it overlaps ("não só" is not the negation "não"). A TERMINATE or PSEUDO rule whose
category is TERMINATE or PSEUDO acts on cues of every category; one whose category is an assertion
category acts only on cues of that category ("mãe refere" cancels the family cue "mãe", not "nega").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Union

DEFAULT_RULES_PATH = Path(__file__).parent / "data" / "context_rules_pt.json"

NEGATED = "NEGATED_EXISTENCE"
POSSIBLE = "POSSIBLE_EXISTENCE"
HISTORICAL = "HISTORICAL"
HYPOTHETICAL = "HYPOTHETICAL"
FAMILY = "FAMILY"
TERMINATE = "TERMINATE"
PSEUDO = "PSEUDO"

# The categories that set an attribute of a target, as medspaCy's DEFAULT_ATTRIBUTES.
CATEGORY_ATTRIBUTES = {
    NEGATED: "is_negated",
    POSSIBLE: "is_uncertain",
    HISTORICAL: "is_historical",
    HYPOTHETICAL: "is_hypothetical",
    FAMILY: "is_family",
}
CATEGORIES = (*CATEGORY_ATTRIBUTES, TERMINATE, PSEUDO)

# Categories of pyConText and of medspaCy's English rules, read as ours.
CATEGORY_ALIASES = {
    "DEFINITE_NEGATED_EXISTENCE": NEGATED,
    "PROBABLE_NEGATED_EXISTENCE": NEGATED,
    "NEGATED": NEGATED,
    "NEGATION": NEGATED,
    "PROBABLE_EXISTENCE": POSSIBLE,
    "POSSIBLE": POSSIBLE,
    "UNCERTAIN": POSSIBLE,
    "UNCERTAINTY": POSSIBLE,
    "INDICATION": POSSIBLE,
    "HISTORY": HISTORICAL,
    "FUTURE": HYPOTHETICAL,
    "CONJ": TERMINATE,
    "PSEUDONEG": PSEUDO,
    "PSEUDO_NEGATION": PSEUDO,
}

DIRECTIONS = ("FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE", "PSEUDO")

RULE_KEYS = (
    "literal",
    "category",
    "direction",
    "pattern",
    "max_scope",
    "max_targets",
    "allowed_types",
    "excluded_types",
    "terminated_by",
    "metadata",
)


@dataclass(frozen=True)
class ContextRule:
    """One cue rule: what to match, its category and the direction of its scope.

    literal (str): The cue phrase, matched ignoring case and accents when `pattern` is None.
    category (str): One of `CATEGORIES`.
    direction (str): One of `DIRECTIONS`.
    pattern (Optional[list]): A spaCy `Matcher` token pattern matched instead of `literal`.
    max_scope (Optional[int]): The most tokens the scope reaches on each side; None: the sentence.
    max_targets (Optional[int]): The most targets the cue modifies, the nearest first; None: all.
    allowed_types (Optional[frozenset]): Target labels the cue may modify (upper case); None: all.
    excluded_types (Optional[frozenset]): Target labels the cue may not modify (upper case).
    terminated_by (frozenset): Categories of other cues that also end this cue's scope.
    metadata (Optional[dict]): Free data kept with the rule (its source, a comment).
    """

    literal: str
    category: str
    direction: str = "BIDIRECTIONAL"
    pattern: Optional[list] = None
    max_scope: Optional[int] = None
    max_targets: Optional[int] = None
    allowed_types: Optional[frozenset] = None
    excluded_types: Optional[frozenset] = None
    terminated_by: frozenset = field(default_factory=frozenset)
    metadata: Optional[dict] = None

    def to_dict(self) -> dict[str, Any]:
        """The rule as a medspaCy JSON object, without the keys left at their default."""
        data: dict[str, Any] = {"literal": self.literal, "category": self.category, "direction": self.direction}
        for key in RULE_KEYS[3:]:
            value = getattr(self, key)
            if isinstance(value, frozenset):
                value = sorted(value) if value else None
            if value is not None:
                data[key] = value
        return data


def rule_from_dict(data: Any, source: str = "<rules>", index: int = 0) -> ContextRule:
    """Validate one medspaCy rule object and build the rule.

    data (Any): The JSON object read from the file.
    source (str): The file name, for messages.
    index (int): The rule's position in `context_rules`, for messages.
    RETURNS (ContextRule): The rule, category and direction upper-cased.
    """
    where = f"{source}: rule {index}"
    if not isinstance(data, dict):
        raise ValueError(f"{where}: a rule must be a JSON object, not {type(data).__name__}")
    unknown = sorted(set(data) - set(RULE_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; the keys are {list(RULE_KEYS)}")
    literal = data.get("literal")
    if not isinstance(literal, str) or not literal.strip():
        raise ValueError(f"{where}: 'literal' must be a non-empty string")
    category = _category(data.get("category"), where)
    direction = data.get("direction", "BIDIRECTIONAL")
    if not isinstance(direction, str) or direction.upper() not in DIRECTIONS:
        raise ValueError(f"{where}: 'direction' must be one of {list(DIRECTIONS)}, not {direction!r}")
    pattern = data.get("pattern")
    if pattern is not None and not (isinstance(pattern, list) and pattern and all(isinstance(p, dict) for p in pattern)):
        raise ValueError(f"{where}: 'pattern' must be a list of token patterns (objects) or null")
    if data.get("allowed_types") is not None and data.get("excluded_types") is not None:
        raise ValueError(f"{where}: give 'allowed_types' or 'excluded_types', not both")
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(f"{where}: 'metadata' must be an object or null")
    return ContextRule(
        literal=literal,
        category=category,
        direction=direction.upper(),
        pattern=pattern,
        max_scope=_positive(data.get("max_scope"), "max_scope", where),
        max_targets=_positive(data.get("max_targets"), "max_targets", where),
        allowed_types=_labels(data.get("allowed_types"), "allowed_types", where),
        excluded_types=_labels(data.get("excluded_types"), "excluded_types", where),
        terminated_by=frozenset(_category(c, where) for c in _labels(data.get("terminated_by"), "terminated_by", where) or ()),
        metadata=metadata,
    )


def _category(value: Any, where: str) -> str:
    """A category name in upper case, medspaCy's and pyConText's aliases mapped to ours."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: 'category' must be a non-empty string")
    name = value.strip().upper()
    name = CATEGORY_ALIASES.get(name, name)
    if name not in CATEGORIES:
        raise ValueError(f"{where}: unknown category {value!r}; the categories are {list(CATEGORIES)}")
    return name


def _positive(value: Any, key: str, where: str) -> Optional[int]:
    """A positive integer or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{where}: {key!r} must be a positive integer or null, not {value!r}")
    return value


def _labels(value: Any, key: str, where: str) -> Optional[frozenset]:
    """A set of upper-case names from a list of strings, or None."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: {key!r} must be a list of strings or null")
    return frozenset(v.upper() for v in value)


def rules_from_json(data: Any, source: str = "<rules>") -> list[ContextRule]:
    """Validate a parsed rule file and build its rules.

    data (Any): The parsed JSON, an object with the list `context_rules`.
    source (str): The file name, for messages.
    RETURNS (list[ContextRule]): The rules in file order.
    """
    if not isinstance(data, dict) or not isinstance(data.get("context_rules"), list):
        raise ValueError(f"{source}: a rule file is a JSON object with the list 'context_rules'")
    return [rule_from_dict(item, source, i) for i, item in enumerate(data["context_rules"])]


def load_rules(path: Union[str, Path] = "default") -> list[ContextRule]:
    """Read a rule file in medspaCy's schema.

    path (Union[str, Path]): The file, or "default" for the package's Portuguese rules.
    RETURNS (list[ContextRule]): The rules in file order.
    """
    path = DEFAULT_RULES_PATH if str(path) == "default" else Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot read the rule file ({type(err).__name__})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON (line {err.lineno}, column {err.colno})") from None
    return rules_from_json(data, str(path))


def rules_to_json(rules: Iterable[ContextRule]) -> dict[str, Any]:
    """The rules as a medspaCy rule file object."""
    return {"context_rules": [rule.to_dict() for rule in rules]}


def write_rules(rules: Iterable[ContextRule], path: Union[str, Path]) -> None:
    """Write rules to a JSON file in medspaCy's schema.

    rules (Iterable[ContextRule]): The rules to write.
    path (Union[str, Path]): The file to write.
    """
    text = json.dumps(rules_to_json(rules), ensure_ascii=False, indent=2)
    Path(path).write_text(text + "\n", encoding="utf-8")
