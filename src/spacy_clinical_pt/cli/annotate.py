"""The `annotate` command (moved here from `..annotate`: being split into a thin wrapper)."""

from ..annotate import annotate_command  # noqa: F401
