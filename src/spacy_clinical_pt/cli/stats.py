"""The `stats` command (moved here from `..stats`: being split into a thin wrapper)."""

from ..stats import stats_command  # noqa: F401
