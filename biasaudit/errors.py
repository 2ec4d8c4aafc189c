"""Errors raised by biasaudit.

Every error a user can cause with bad input derives from :class:`BiasAuditError`;
input errors also derive from :class:`ValueError` (or :class:`FileNotFoundError`) so that
callers who catch the built-ins keep working.  Messages say what was wrong, what was
expected and what to do; the CLI prints them on one line and exits with code 2.
"""
from __future__ import annotations

import difflib
from typing import Iterable

__all__ = [
    "BiasAuditError",
    "DataError",
    "InputFileError",
    "ColumnError",
    "BiasCheckError",
    "BiasAuditWarning",
    "missing_column",
]


class BiasAuditError(Exception):
    """Base class of every error biasaudit raises on purpose."""


class DataError(BiasAuditError, ValueError):
    """The data cannot be audited as given (empty table, constant label, bad weights...)."""


class InputFileError(BiasAuditError, ValueError):
    """A file cannot be read: missing, a directory, unknown format, undecodable text."""


class ColumnError(DataError, KeyError):
    """A named column does not exist (message carries close matches)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class BiasCheckError(BiasAuditError, AssertionError):
    """A check found bias at or above the requested severity.

    Attributes
    ----------
    result : AuditResult
        The whole audit.
    failures : pandas.DataFrame
        The findings that reached the level, one row each.
    """

    def __init__(self, message: str, result, failures) -> None:
        super().__init__(message)
        self.result = result
        self.failures = failures


class BiasAuditWarning(UserWarning):
    """Emitted by checks run with ``on_fail="warn"``."""


def missing_column(name: str, columns: Iterable[str], what: str) -> ColumnError:
    """"<what> column 'x' not found. Did you mean 'X'? Columns are: ..." as a :class:`ColumnError`."""
    columns = [str(c) for c in columns]
    lower = {c.lower(): c for c in columns}
    close = [lower[name.lower()]] if name.lower() in lower else difflib.get_close_matches(name, columns, n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(columns[:12]) + (" ..." if len(columns) > 12 else "")
    return ColumnError(f"{what} column {name!r} not found.{hint} Columns are: {shown}.")
