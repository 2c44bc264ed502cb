"""The `split` command (moved here from `..split`: being split into a thin wrapper)."""

from ..split import split_command  # noqa: F401
