"""Bounds on what an input file can make biasaudit allocate, each with a default and a way to raise it.

A hostile or broken file must not exhaust the machine: a compression bomb, a line of gigabytes,
an image of a billion pixels.  Each bound below has a default that real data sets stay far
below, a one-line message naming it when it is hit, and a way to raise it:

* command line: ``--limit NAME=VALUE`` (repeatable), e.g. ``--limit decompression_ratio=1000``;
* configuration file: a ``[limits]`` table (``decompression_ratio = 1000``);
* Python: ``with biasaudit.limits.use_limits(decompression_ratio=1000): biasaudit.audit(...)``.

Sizes accept a unit (``512MB``, ``8GiB``); ``0`` is refused (a bound of nothing reads nothing).
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import re
from dataclasses import dataclass, fields, replace

__all__ = ["Limits", "LIMIT_HELP", "current", "use_limits", "parse_limit", "parse_size", "LimitError",
           "limit_hint"]

MiB, GiB = 1 << 20, 1 << 30


@dataclass(frozen=True)
class Limits:
    """The bounds in force (see the module docstring).

    Attributes
    ----------
    decompressed_bytes : int
        Most bytes a compressed table may decompress to (default 8 GiB).
    decompression_ratio : float
        Most decompressed bytes per compressed byte, checked once more than
        ``ratio_floor_bytes`` have been decompressed (default 100; real tables compress 3-20x).
    ratio_floor_bytes : int
        Decompressed bytes below which the ratio is not checked (default 64 MiB).
    line_bytes : int
        Longest line of a text table (default 16 MiB): a longer line is refused, not parsed.
    image_pixels : int
        Largest image decoded (width x height; default 89,478,485, Pillow's own guard, which is
        raised with it).
    json_bytes : int
        Largest JSON document (COCO annotations) parsed as a whole (default 2 GiB).
    column_sets : int
        Column pairs and triples the combination scans may test (default 20,000), most informative
        first; the rest are listed as not scanned.
    """

    decompressed_bytes: int = 8 * GiB
    decompression_ratio: float = 100.0
    ratio_floor_bytes: int = 64 * MiB
    line_bytes: int = 16 * MiB
    image_pixels: int = 89_478_485
    json_bytes: int = 2 * GiB
    column_sets: int = 20_000


#: One line per limit, for ``--help`` and messages.
LIMIT_HELP = {
    "decompressed_bytes": "most bytes a compressed table may decompress to",
    "decompression_ratio": "most decompressed bytes per compressed byte (past ratio_floor_bytes)",
    "ratio_floor_bytes": "decompressed bytes below which the ratio is not checked",
    "line_bytes": "longest line of a text table",
    "image_pixels": "largest image decoded (width x height)",
    "json_bytes": "largest JSON document read as a whole",
    "column_sets": "column pairs and triples the combination scans may test",
}

_CURRENT: contextvars.ContextVar[Limits] = contextvars.ContextVar("biasaudit_limits", default=Limits())


class LimitError(ValueError):
    """A limit given with a wrong name or value (the CLI and the config file turn it into exit 2)."""


def current() -> Limits:
    """The limits in force in this context."""
    return _CURRENT.get()


@contextlib.contextmanager
def use_limits(limits: Limits | None = None, **overrides):
    """Run a block with other limits: ``with use_limits(line_bytes="64MB"): ...``."""
    base = limits if limits is not None else current()
    checked = {k: parse_limit(k, v) for k, v in overrides.items()}
    token = _CURRENT.set(replace(base, **checked))
    try:
        yield _CURRENT.get()
    finally:
        _CURRENT.reset(token)


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1 << 10, "m": 10 ** 6, "mb": 10 ** 6, "mib": MiB,
          "g": 10 ** 9, "gb": 10 ** 9, "gib": GiB, "t": 10 ** 12, "tb": 10 ** 12, "tib": 1 << 40}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?(?:e[0-9]+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_size(value) -> int:
    """Bytes from ``123``, ``"512MB"``, ``"8GiB"``; raises :class:`LimitError` otherwise."""
    if isinstance(value, bool):
        raise LimitError(f"expected a size such as 512MB. Got {value!r} instead")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    else:
        m = _SIZE.match(str(value))
        if not m or m.group(2).lower() not in _UNITS:
            raise LimitError(f"expected a size such as 512MB or 8GiB. Got {value!r} instead")
        number, unit = float(m.group(1)), m.group(2).lower()
    if not math.isfinite(number):
        raise LimitError(f"expected a finite size. Got {value!r} instead")
    return int(number * _UNITS[unit])


def parse_limit(name: str, value):
    """The checked value of limit ``name`` (positive; sizes with units); :class:`LimitError` otherwise."""
    names = [f.name for f in fields(Limits)]
    if name not in names:
        import difflib
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else f" Known limits: {', '.join(names)}."
        raise LimitError(f"Unknown limit {name!r}.{hint}")
    if name == "decompression_ratio":
        try:
            number = float(value) if not isinstance(value, bool) else float("nan")
        except (TypeError, ValueError):
            number = float("nan")
        if not (math.isfinite(number) and number >= 1):
            raise LimitError(f"The limit {name!r} must be a number >= 1. Got {value!r} instead.")
        return number
    try:
        number = parse_size(value)
    except LimitError as exc:
        raise LimitError(f"The limit {name!r}: {exc}.") from None
    if number < 1:
        raise LimitError(f"The limit {name!r} must be positive. Got {value!r} instead.")
    return number


def limit_hint(name: str, value=None) -> str:
    """The fix sentence of a message about limit ``name``: how to raise it."""
    shown = "" if value is None else f" (now {value:,})" if isinstance(value, int) else f" (now {value:g})"
    return f"raise it with --limit {name}=VALUE{shown} if the file is trusted"
