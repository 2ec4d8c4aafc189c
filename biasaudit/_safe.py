"""Data values made safe to show: escaped control characters, shortened cells, neutral CSV cells.

Values from a user's data reach a terminal (text report, stderr), a spreadsheet (CSV files we
write) and a browser (HTML report).  Three hazards, three helpers, one place:

* :func:`escape_text` -- control characters (C0 but newline and tab, DEL, C1), terminal escape
  sequences (ESC starts every CSI/OSC sequence) and Unicode bidirectional controls (the
  "Trojan Source" characters, CVE-2021-42574) are shown as visible ``\\x1b`` / ``\\u202e``
  escapes instead of acting on the terminal or reordering the text.
* :func:`shorten` -- a value longer than ``max_chars`` is cut, with an ellipsis and a short hash so
  that two long values sharing a prefix stay distinct.  The full value stays in the data only.
* :func:`csv_cell` -- the OWASP rule against CSV (formula) injection: a text cell starting with
  ``=``, ``+``, ``-``, ``@``, tab or carriage return is prefixed with a single quote.

This module imports nothing from biasaudit: every layer may use it.

References
----------
OWASP, "CSV Injection", https://owasp.org/www-community/attacks/CSV_Injection
Boucher, N. & Anderson, R. (2021). Trojan Source: Invisible Vulnerabilities. arXiv:2111.00169.
"""
from __future__ import annotations

import hashlib
import re

__all__ = ["escape_text", "shorten", "csv_cell", "csv_column", "MAX_SHOWN_CHARS", "FORMULA_PREFIXES"]

#: Longest value shown in ids, messages and evidence before it is shortened.
MAX_SHOWN_CHARS = 120
#: First characters a spreadsheet reads as a formula (OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# C0 controls except \t and \n, DEL, C1 controls, the bidi embeddings, overrides and isolates (LRE,
# RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI; the plain marks LRM/RLM stay: right-to-left text needs
# them), plus the line/paragraph separators a terminal may honour.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2028\u2029\u2066-\u2069]")


def _escape_char(m: re.Match) -> str:
    c = m.group(0)
    o = ord(c)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def _escape_char_u(m: re.Match) -> str:
    return f"\\u{ord(m.group(0)):04x}"


def escape_text(text, *, keep_newlines: bool = True, json_safe: bool = False) -> str:
    """``text`` with every unsafe character shown as a visible escape (``\\x1b``, ``\\u202e``).

    Newlines (and tabs) are kept when ``keep_newlines`` is true, otherwise escaped too (one-line
    messages).  ``json_safe`` writes every escape as ``\\uXXXX``, which inside a JSON string
    decodes back to the same character (for an HTML page that embeds its data as JSON).  Safe
    text is returned unchanged.
    """
    s = str(text)
    if not keep_newlines:
        s = s.replace("\n", "\\n").replace("\t", "\\t")
    return _UNSAFE.sub(_escape_char_u if json_safe else _escape_char, s)


def shorten(value, max_chars: int = MAX_SHOWN_CHARS) -> str:
    """``value`` as text of at most about ``max_chars`` characters.

    A longer value keeps its first ``max_chars - 12`` characters, then ``…`` and the first 8 hex
    digits of its SHA-1, so distinct long values stay distinct and the same value always reads the
    same.
    """
    s = str(value)
    if len(s) <= max_chars:
        return s
    digest = hashlib.sha1(s.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{s[:max(1, max_chars - 12)]}…#{digest}"


def csv_cell(value):
    """A text value made inert for spreadsheets (OWASP): prefixed with ``'`` when it starts a formula.

    Numbers and missing values are returned unchanged, so a negative number stays a number.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_column(values):
    """:func:`csv_cell` over a pandas Series (vectorised; non-text columns returned as they are)."""
    import pandas as pd

    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
        return s
    text = s.astype(object)
    try:
        risky = text.str.startswith(FORMULA_PREFIXES, na=False).astype(bool)
    except AttributeError:  # no text value at all
        return s
    if not risky.any():
        return s
    return text.where(~risky, "'" + text.where(risky, "").astype(str))
