"""One validator per setting, shared by the command line, the configuration file and Python.

``validate(name, value)`` returns the value in its canonical type or raises :class:`SettingError`
(a ``ValueError``) with one sentence in scikit-learn's form: "The 'bins' setting must be an
integer from 2 to 20. Got 0 instead."  The CLI reports it with exit code 2, the configuration
reader adds the file name, :func:`biasaudit.audit` raises it as it is.  ``--bins 0`` on the
command line, ``bins = 0`` in ``biasaudit.toml`` and ``audit(df, bins=0)`` are refused alike.
"""
from __future__ import annotations

import codecs
import math
import numbers
from typing import Any, Callable

from .errors import BiasAuditError
from .settings import FAIL_ON_LEVELS

__all__ = ["SettingError", "VALIDATORS", "ALIASES", "validate", "validate_all", "check_encoding", "renamed",
           "RENAMED_MESSAGE"]

#: FutureWarning for a deprecated keyword (kept for one release).
RENAMED_MESSAGE = "The {old!r} parameter of {where} is deprecated and will be removed; use {new!r} (the same setting)."

#: Corrections of the multiple-testing family.
CORRECTIONS = ("bh", "holm", "by")
#: Bounds of the integer settings (inclusive; None: unbounded).
INT_BOUNDS = {"bins": (2, 20), "max_levels": (2, None), "random_state": (0, 2 ** 32 - 1), "k_max": (1, 3),
              "chunk_size": (1, None), "sample_rows": (0, None), "max_iter": (1, None)}
#: Python keyword names and config spellings that name the same setting.
ALIASES = {"n_bins": "bins", "seed": "random_state", "max-levels": "max_levels", "k-max": "k_max",
           "fail-on": "fail_on", "chunk-size": "chunk_size", "sample-rows": "sample_rows", "max-iter": "max_iter"}


class SettingError(BiasAuditError, ValueError):
    """A setting with a value outside what it accepts."""


def _fail(name: str, what: str, value) -> SettingError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return SettingError(f"The {name!r} setting must be {what}. Got {shown} instead.")


def _integer(name: str, value) -> int:
    lo, hi = INT_BOUNDS[name]
    what = ("an integer" + (f" from {lo} to {hi}" if lo is not None and hi is not None
                            else f" >= {lo}" if lo is not None else ""))
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, str, float)):
        raise _fail(name, what, value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise _fail(name, what, value) from None
    if isinstance(value, float):
        if not (math.isfinite(value) and value == int(value)):
            raise _fail(name, what, value)
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _fail(name, what, value)
    return value


def _number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    if isinstance(value, numbers.Real):
        return float(value)
    return None


#: Smallest level accepted: below it exact intervals and tails lose all precision (and no data set has
#: the rows to reach such a level).
MIN_ALPHA = 1e-10


def _alpha(value) -> float:
    x = _number(value)
    if x is None or not (math.isfinite(x) and MIN_ALPHA <= x < 1):
        raise _fail("alpha", f"a number in [{MIN_ALPHA:g}, 1)", value)
    return x


def _threshold(value) -> float | None:
    if value is None:
        return None
    x = _number(value)
    if x is None or not math.isfinite(x):
        raise _fail("threshold", "a finite number (the score at or above which a prediction is positive)", value)
    return x


def _tol(value) -> float:
    x = _number(value)
    if x is None or not (math.isfinite(x) and x > 0):
        raise _fail("tol", "a finite number > 0", value)
    return x


def _choice(name: str, options) -> Callable:
    def check(value):
        if not isinstance(value, str) or value not in options:
            raise _fail(name, "one of " + ", ".join(repr(o) for o in options), value)
        return value
    return check


def check_encoding(value) -> str:
    """The codec name when ``value`` names a text encoding Python knows; :class:`SettingError` otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise _fail("encoding", "a text encoding such as 'utf-8' or 'latin-1'", value)
    try:
        info = codecs.lookup(value.strip())
    except LookupError:
        raise _fail("encoding", "a text encoding such as 'utf-8' or 'latin-1'", value) from None
    if not getattr(info, "_is_text_encoding", True):  # e.g. 'rot13', 'base64': not a file encoding
        raise _fail("encoding", "a text encoding such as 'utf-8' or 'latin-1'", value)
    return value.strip()


def _name(name: str) -> Callable:
    def check(value):
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise _fail(name, "a column name", value)
        return value
    return check


def _names(name: str) -> Callable:
    def check(value):
        if value is None:
            return ()
        values = [value] if isinstance(value, str) else value
        try:
            values = tuple(values)
        except TypeError:
            raise _fail(name, "a list of column names", value) from None
        if not all(isinstance(v, str) and v.strip() for v in values):
            raise _fail(name, "a list of column names", value)
        return values
    return check


VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "alpha": _alpha,
    "bins": lambda v: _integer("bins", v),
    "max_levels": lambda v: _integer("max_levels", v),
    "random_state": lambda v: _integer("random_state", v),
    "k_max": lambda v: None if v is None else _integer("k_max", v),
    "chunk_size": lambda v: None if v is None else _integer("chunk_size", v),
    "sample_rows": lambda v: None if v is None else _integer("sample_rows", v),
    "max_iter": lambda v: _integer("max_iter", v),
    "tol": _tol,
    "threshold": _threshold,
    "correction": _choice("correction", CORRECTIONS),
    "fail_on": _choice("fail_on", FAIL_ON_LEVELS),
    "encoding": check_encoding,
    "label": _name("label"), "weight": _name("weight"),
    "prediction": _name("prediction"), "score": _name("score"),
    "sensitive": _names("sensitive"), "ids": _names("ids"), "non_causal": _names("non_causal"),
    "attributes": _names("attributes"),
}


def validate(name: str, value):
    """``value`` checked for setting ``name`` (aliases such as ``n_bins`` accepted); see the module docstring."""
    key = ALIASES.get(name, name)
    check = VALIDATORS.get(key)
    if check is None:
        raise KeyError(f"No validator for setting {name!r}.")
    return check(value)


def validate_all(**settings) -> dict:
    """Every known setting of ``settings`` validated (unknown keys and ``None`` passed through)."""
    out = {}
    for k, v in settings.items():
        key = ALIASES.get(k, k)
        out[k] = validate(key, v) if key in VALIDATORS and v is not None else v
    return out


def renamed(value, old_value, *, old: str, new: str, where: str, default):
    """The value of setting ``new``, reading the deprecated keyword ``old`` (with a FutureWarning).

    ``value`` is what was passed as ``new`` (None: not given); ``old_value`` what was passed as
    ``old``.  The new name wins when both are given.
    """
    if old_value is not None:
        import warnings
        warnings.warn(RENAMED_MESSAGE.format(old=old, new=new, where=where), FutureWarning, stacklevel=3)
        if value is None:
            return old_value
    return default if value is None else value
