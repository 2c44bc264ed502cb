"""The `aggregate` command (moved here from `..compare`: being split into a thin wrapper)."""

from ..compare import aggregate_command  # noqa: F401
