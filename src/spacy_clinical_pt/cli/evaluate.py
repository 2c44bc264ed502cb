"""The `evaluate` command (moved here from `..evaluate`: being split into a thin wrapper)."""

from ..evaluate import evaluate_command  # noqa: F401
