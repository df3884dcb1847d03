"""The project's own exceptions. A ``DlrwError`` is a user-facing failure: the CLI prints its
message as one line and exits non-zero, without a traceback."""

from __future__ import annotations

__all__ = ["ConfigError", "DlrwError", "ServiceUnavailable", "error_line"]


class DlrwError(Exception):
    """A failure the user can act on; ``str(exc)`` is the one line shown."""

    exit_code = 1


class ConfigError(DlrwError):
    """A setting or argument is wrong."""

    exit_code = 2


class ServiceUnavailable(DlrwError):
    """Kafka, the warehouse or a tool it needs cannot be reached or is missing."""

    exit_code = 3


def error_line(exc: BaseException) -> str:
    """The first line of what went wrong, from the driver's own error when SQLAlchemy wraps one."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__
