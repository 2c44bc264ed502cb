"""The `llm-baseline` command (moved here from `..llm.baseline`: being split into a thin wrapper)."""

from ..llm.baseline import llm_baseline_command  # noqa: F401
