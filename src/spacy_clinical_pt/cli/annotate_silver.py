"""The `annotate-silver` command (moved here from `..llm.baseline`: being split into a thin wrapper)."""

from ..llm.baseline import annotate_silver_command  # noqa: F401
