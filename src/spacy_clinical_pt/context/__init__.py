"""ConText assertion for Portuguese clinical entities: negated, uncertain, historical, hypothetical, family.

`clinical_context` (factory, entry point) sets medspaCy's span extensions (`is_negated`, `is_uncertain`,
`is_historical`, `is_hypothetical`, `is_family`) plus `assertion` and `assertion_cue` on the spans of a
spans group. Rules are data (`data/context_rules_pt.json`, medspaCy's JSON schema; `rules.py`), matched
with their scopes in `cues.py`, within the sentences of `sentences.py` and the sections of `sections.py`.
"""

from .component import ASSERTIONS, PRECEDENCE, ClinicalContext, make_clinical_context, register_extensions
from .rules import CATEGORIES, DIRECTIONS, ContextRule, load_rules, rule_from_dict, write_rules

__all__ = [
    "ASSERTIONS",
    "CATEGORIES",
    "DIRECTIONS",
    "PRECEDENCE",
    "ClinicalContext",
    "ContextRule",
    "load_rules",
    "make_clinical_context",
    "register_extensions",
    "rule_from_dict",
    "write_rules",
]

register_extensions()
