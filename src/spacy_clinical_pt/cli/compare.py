"""The `compare` command (moved here from `..compare`: being split into a thin wrapper)."""

from ..compare import compare_command  # noqa: F401
