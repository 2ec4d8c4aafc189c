"""What the streaming engines remember of each column while the rows go by (bounded memory).

A column is held in one of three modes:

* ``dict``: a global dictionary of its raw values (codes in order of first appearance, at most
  :data:`DICT_CAP`), with counts over the rows whose label is present ("kept") and the others;
* ``num``: numbers, with exact value counts while there are at most :data:`NUM_EXACT_CAP`
  distinct values (exact quantile bins), beyond that only the row sample (approximate bins);
* ``hash``: free text or identifiers with too many values to audit; only the number of distinct
  values is tracked (exactly up to :data:`HASH_CAP`).

:func:`biasaudit._coltypes.typed_column` then gives each column the types :func:`biasaudit.load`
would have given it (booleans, numbers written as text, stripped text, empty strings as missing).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["ColumnState", "DICT_CAP", "NUM_EXACT_CAP", "HASH_CAP", "NULL16", "CSV_NA_STRINGS", "add_chunk",
           "coerce", "value_hashes"]

#: Distinct raw values a dictionary holds (codes are uint16; 65535 marks a missing value).
DICT_CAP = 65535
NULL16 = 65535
#: Distinct numbers kept with exact counts (exact quantile bins up to here).
NUM_EXACT_CAP = 1 << 17
#: Distinct hashes of high-cardinality text kept to count distinct values exactly.
HASH_CAP = 1 << 22
#: Field texts pandas.read_csv reads as missing (``pandas._libs.parsers.STR_NA_VALUES``).
CSV_NA_STRINGS = frozenset(['', '#N/A', '#N/A N/A', '#NA', '-1.#IND', '-1.#QNAN', '-NaN', '-nan', '1.#IND',
                            '1.#QNAN', '<NA>', 'N/A', 'NA', 'NULL', 'NaN', 'None', 'n/a', 'nan', 'null'])
_INT_LITERAL = r"^\s*[+-]?\d+\s*$"


class _Counts:
    """Sorted distinct float values with kept / dropped counts; merged lazily (amortised)."""

    def __init__(self) -> None:
        self.vals = np.empty(0)
        self.kept = np.empty(0, dtype=np.int64)
        self.dropped = np.empty(0, dtype=np.int64)
        self._pending: list = []
        self._pending_len = 0

    def add(self, x: np.ndarray, present: np.ndarray) -> None:
        if len(x) == 0:
            return
        u, inv = np.unique(x, return_inverse=True)
        k = np.bincount(inv, weights=present, minlength=len(u)).astype(np.int64)
        d = np.bincount(inv, minlength=len(u)).astype(np.int64) - k
        self._pending.append((u, k, d))
        self._pending_len += len(u)
        if self._pending_len > max(len(self.vals), 1 << 14):
            self.merge()

    def add_counts(self, vals: np.ndarray, kept: np.ndarray, dropped: np.ndarray) -> None:
        """Add values with their counts (values may repeat)."""
        self._pending.append((np.asarray(vals, dtype=float), np.asarray(kept, dtype=np.int64),
                              np.asarray(dropped, dtype=np.int64)))
        self._pending_len += len(vals)
        self.merge()

    def merge(self) -> None:
        if not self._pending:
            return
        v = np.concatenate([self.vals] + [p[0] for p in self._pending])
        k = np.concatenate([self.kept] + [p[1] for p in self._pending])
        d = np.concatenate([self.dropped] + [p[2] for p in self._pending])
        self.vals, inv = np.unique(v, return_inverse=True)
        self.kept = np.bincount(inv, weights=k, minlength=len(self.vals)).astype(np.int64)
        self.dropped = np.bincount(inv, weights=d, minlength=len(self.vals)).astype(np.int64)
        self._pending, self._pending_len = [], 0

    def __len__(self) -> int:
        self.merge()
        return len(self.vals)


@dataclass
class ColumnState:
    """Pass-one state of one column; see the module docstring.

    ``source`` is ``"text"`` (strings the loader would normalise: strip, true/false, numbers),
    ``"typed"`` (booleans, categories, Python objects: taken as they are) or ``"num"`` (numbers).
    States of separate chunks (or Dask partitions) combine with :meth:`merge`.
    """

    name: str
    source: str
    na_strings: frozenset = frozenset()
    pandas_dtype: object = None
    mode: str = "dict"
    values: list = field(default_factory=list)
    index: dict = field(default_factory=dict)
    kept: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    dropped: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    null_kept: int = 0
    null_dropped: int = 0
    rows: int = 0
    all_str: bool = True
    counts: _Counts | None = None
    exact: bool = True
    all_integral: bool = True
    int_literals: bool = True
    has_inf: bool = False
    vmin: float = float("inf")
    vmax: float = float("-inf")
    hashes: np.ndarray | None = None
    hashes_all: np.ndarray | None = None
    hash_exact: bool = True
    repeat_seen: bool = False
    previous_values: list = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.source == "num":
            self.mode = "num"
            self.counts = _Counts()

    def pandas_dtype_kind(self) -> str:
        """numpy kind of the source dtype (``"i"`` integers, ``"f"`` floats), '' when unknown."""
        return getattr(self.pandas_dtype, "kind", "") if self.pandas_dtype is not None else ""

    # ------------------------------------------------------------------ chunk input
    def local_missing(self, local: list) -> np.ndarray:
        """Which local dictionary values are missing (None/NaN; for text also NA words and blanks)."""
        if not len(local):
            return np.zeros(0, dtype=bool)
        s = pd.Series(local, dtype=object)
        out = np.array(s.isna().to_numpy(), dtype=bool)
        if self.source == "text" and not out.all():
            try:
                lead = s.str.lstrip(" ")
            except AttributeError:  # no string at all
                return out
            is_str = lead.notna().to_numpy()
            out |= is_str & (lead.isin(self.na_strings) | (s.str.strip() == "")).to_numpy()
        return out

    def add_dict(self, local: list, codes: np.ndarray, present: np.ndarray) -> np.ndarray:
        """A chunk of dictionary-coded values (``codes`` index ``local``, -1 missing).

        Returns the rows as global uint16 codes (``dict`` mode), float64 numbers (``num`` mode)
        or an empty array (``hash`` mode).  The mode can change during the call (the caller
        then converts what it kept of earlier chunks, see ``previous_values``).
        """
        self.rows += len(codes)
        k = len(local)
        if present.all():  # the usual case: one bincount, missing (-1) shifted to slot 0
            c = np.bincount(codes + 1, minlength=k + 1)
            kept, dropped, nk, nd = c[1:], np.zeros(k, dtype=np.int64), int(c[0]), 0
        else:
            both = np.bincount((codes + 1) * 2 + present, minlength=2 * (k + 1)).reshape(k + 1, 2)
            kept, dropped, nk, nd = both[1:, 1], both[1:, 0], int(both[0, 1]), int(both[0, 0])
        rep = self.absorb(local, kept, dropped, nk, nd, codes)
        return rep[codes] if rep is not None else np.empty(0)

    def absorb(self, local: list, kept: np.ndarray, dropped: np.ndarray, null_kept: int, null_dropped: int,
               codes: np.ndarray | None = None):
        """Add distinct values with their counts; the per-value representation (last entry: missing)."""
        miss = self.local_missing(local)
        if miss.any():
            null_kept += int(kept[miss].sum())
            null_dropped += int(dropped[miss].sum())
        self.null_kept += null_kept
        self.null_dropped += null_dropped
        if self.source == "text" and self.all_str:
            self.all_str = all(isinstance(v, str) for v, m in zip(local, miss) if not m)
        if self.mode == "dict":
            lookup = np.full(len(local) + 1, NULL16, dtype=np.uint16)
            full = False
            for i, v in enumerate(local):
                if miss[i]:
                    continue
                g = self.index.get(v)
                if g is None:
                    if len(self.values) >= DICT_CAP:
                        full = True
                        break
                    g = self.index[v] = len(self.values)
                    self.values.append(v)
                lookup[i] = g
            if not full:
                size = len(self.values)
                for name, c in (("kept", kept), ("dropped", dropped)):
                    arr = getattr(self, name)
                    if len(arr) < size:
                        arr = np.concatenate([arr, np.zeros(size - len(arr), dtype=np.int64)])
                    ok = ~miss
                    np.add.at(arr, lookup[:-1][ok].astype(np.intp), np.asarray(c)[ok].astype(np.int64))
                    setattr(self, name, arr)
                return lookup
            self._leave_dict()
        if self.mode == "num":
            x = self._parse(local, miss)
            if x is not None:
                ok = ~miss
                self._num_flags(x[ok])
                if self.exact:
                    self.counts.add_counts(x[ok], np.asarray(kept)[ok], np.asarray(dropped)[ok])
                    self._check_cap()
                return np.append(x, np.nan)
            self._to_hash()
        self._add_hashes(local, miss, kept, dropped)
        return None

    def add_num(self, x: np.ndarray, present: np.ndarray) -> np.ndarray:
        """A chunk of numbers (NaN missing)."""
        self.rows += len(x)
        nan = np.isnan(x)
        self.null_kept += int((nan & present).sum())
        self.null_dropped += int((nan & ~present).sum())
        ok = x[~nan]
        self._num_flags(ok)
        if self.exact:
            self.counts.add(ok, present[~nan])
            self._check_cap()
        return x

    def _num_flags(self, ok: np.ndarray) -> None:
        if not ok.size:
            return
        self.vmin = min(self.vmin, float(ok.min()))
        self.vmax = max(self.vmax, float(ok.max()))
        if self.all_integral:
            fin = ok[np.isfinite(ok)]
            self.all_integral = bool(np.all(fin == np.round(fin)))
        self.has_inf = self.has_inf or bool(np.isinf(ok).any())

    def _check_cap(self) -> None:
        if self.counts._pending_len == 0 and len(self.counts.vals) > NUM_EXACT_CAP:
            self.repeat_seen = self.repeat_seen or bool(((self.counts.kept + self.counts.dropped) > 1).any())
            self.exact = False
            self.counts = _Counts()

    # ------------------------------------------------------------------ combining states
    def merge(self, other: "ColumnState") -> None:
        """Add another chunk's (or partition's) state, as if its rows came after ours."""
        self.rows += other.rows
        self.int_literals = self.int_literals and other.int_literals
        if other.mode == "dict":
            self.absorb(other.values, other.kept, other.dropped, other.null_kept, other.null_dropped)
            self.all_str = self.all_str and other.all_str
            return
        self.all_str = self.all_str and other.all_str
        self.null_kept += other.null_kept
        self.null_dropped += other.null_dropped
        self.repeat_seen = self.repeat_seen or other.repeat_seen
        if other.mode == "num":
            if self.mode == "dict":
                if self.source == "text" or not self.values:
                    self._leave_dict()
                else:
                    self._to_hash()
            if self.mode == "num":
                self.vmin = min(self.vmin, other.vmin)
                self.vmax = max(self.vmax, other.vmax)
                self.all_integral = self.all_integral and other.all_integral
                self.has_inf = self.has_inf or other.has_inf
                if self.exact and other.exact:
                    other.counts.merge()
                    self.counts.add_counts(other.counts.vals, other.counts.kept, other.counts.dropped)
                    self._check_cap()
                elif self.exact:
                    self.repeat_seen = self.repeat_seen or bool(
                        ((self.counts.kept + self.counts.dropped) > 1).any())
                    self.exact, self.counts = False, _Counts()
                return
        if self.mode != "hash":
            self._to_hash()
        if other.hashes is not None and self.hash_exact and other.hash_exact:
            before = len(self.hashes) + len(other.hashes)
            self.hashes = np.union1d(self.hashes, other.hashes)
            self.hashes_all = np.union1d(self.hashes_all, other.hashes_all)
            self.repeat_seen = self.repeat_seen or len(self.hashes) < before
            self.hash_exact = len(self.hashes_all) <= HASH_CAP
        else:
            self.hash_exact = False

    def global_codes(self, local: list, codes: np.ndarray) -> np.ndarray:
        """Rows of a chunk as the codes (dict mode) or numbers (num mode) of this finished state."""
        miss = self.local_missing(local)
        if self.mode == "dict":
            lookup = np.full(len(local) + 1, NULL16, dtype=np.uint16)
            for i, v in enumerate(local):
                if not miss[i] and v in self.index:
                    lookup[i] = self.index[v]
            return lookup[codes]
        if self.mode == "num":
            if self.source == "text":
                text = pd.Series([str(v).strip() if not m else None for v, m in zip(local, miss)], dtype=object)
                x = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
            else:
                x = pd.to_numeric(pd.Series(list(local), dtype=object), errors="coerce").to_numpy(dtype=float)
            return np.append(x, np.nan)[codes]
        return np.array(list(local) + [None], dtype=object)[codes]

    # ------------------------------------------------------------------ mode changes
    def _parse(self, local: list, miss: np.ndarray) -> np.ndarray | None:
        if self.source != "text":
            x = pd.to_numeric(pd.Series([None if m else v for v, m in zip(local, miss)], dtype=object),
                              errors="coerce").to_numpy(dtype=float)
            return x if not np.isnan(x[~miss]).any() else None
        if not all(isinstance(v, str) for v, m in zip(local, miss) if not m):
            return None
        text = pd.Series([v.strip() if not m else None for v, m in zip(local, miss)], dtype=object)
        x = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
        if np.isnan(x[~miss]).any():
            return None
        if self.int_literals and (~miss).any():
            self.int_literals = bool(text[~miss].str.match(_INT_LITERAL).all())
        return x

    def _leave_dict(self) -> None:
        """The dictionary is full: numbers when every value parses, else hashed text."""
        self.previous_values = list(self.values)
        size = len(self.values)  # values inserted by an interrupted absorb have no counts yet
        self.kept = np.concatenate([self.kept, np.zeros(size - len(self.kept), dtype=np.int64)])
        self.dropped = np.concatenate([self.dropped, np.zeros(size - len(self.dropped), dtype=np.int64)])
        x = self._parse(self.values, np.zeros(size, dtype=bool)) if self.source == "text" else None
        if x is not None:
            self.mode = "num"
            self.counts = _Counts()
            seen = (self.kept + self.dropped) > 0
            self.counts.add_counts(x[seen], self.kept[seen], self.dropped[seen])
            self._num_flags(x[seen])
            self._check_cap()
        else:
            self._to_hash()
        self.values, self.index = [], {}
        self.kept, self.dropped = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)

    def _to_hash(self) -> None:
        prev_mode = self.mode
        self.mode = "hash"
        self.hashes = np.empty(0, dtype=np.uint64)
        self.hashes_all = np.empty(0, dtype=np.uint64)
        if prev_mode == "dict":
            vals = self.values or self.previous_values
            self.previous_values = list(vals)
            kept = np.zeros(len(vals), dtype=np.int64)
            dropped = np.zeros(len(vals), dtype=np.int64)
            kept[:len(self.kept)] = self.kept[:len(vals)]
            dropped[:len(self.dropped)] = self.dropped[:len(vals)]
            # values of an interrupted absorb have no counts yet: they come again with theirs
            self._add_hashes(vals, np.zeros(len(vals), dtype=bool), kept, dropped)
        else:  # from numbers: the distinct values seen so far cannot be recovered as text
            self.hash_exact = False
            if self.counts is not None and len(self.counts):
                self.repeat_seen = self.repeat_seen or bool((self.counts.kept > 1).any())
        self.counts = None
        self.exact = False

    def _add_hashes(self, local: list, miss: np.ndarray, kept: np.ndarray, dropped: np.ndarray) -> None:
        """Distinct hashes of the values in kept rows (ids, n_unique) and in any row (dataset summary)."""
        kept, dropped = np.asarray(kept), np.asarray(dropped)
        ok = ~miss & ((kept + dropped) > 0)
        if not ok.any():
            return
        if (kept[ok] > 1).any():
            self.repeat_seen = True
        if not self.hash_exact:
            return
        h = value_hashes(self, local, miss)
        in_kept = h[ok & (kept > 0)]
        u = np.unique(in_kept)
        before = len(self.hashes) + len(u)
        self.hashes = np.union1d(self.hashes, u)
        if len(u) < len(in_kept) or len(self.hashes) < before:
            self.repeat_seen = True
        self.hashes_all = np.union1d(self.hashes_all, h[ok])
        if len(self.hashes_all) > HASH_CAP:
            self.hash_exact = False


# ----------------------------------------------------------------------------- one chunk
def coerce(inp: tuple, st: ColumnState) -> tuple:
    """Make a chunk's column match the state's mode (a partition may type an all-missing column differently)."""
    if inp[0] == "num" and st.mode != "num":
        x = inp[1]
        if np.isnan(x).all():
            return ("dict", [], np.full(len(x), -1, dtype=np.int64))
        codes, uniques = pd.factorize(pd.Series(x), use_na_sentinel=True)
        return ("dict", [float(u) for u in uniques], codes.astype(np.int64))
    if inp[0] == "dict" and st.mode == "num" and st.source != "text":
        local, codes = inp[1], inp[2]
        vals = pd.to_numeric(pd.Series(list(local) + [None], dtype=object), errors="coerce").to_numpy(dtype=float)
        return ("num", vals[codes])
    return inp


def value_hashes(st: ColumnState, values, missing: np.ndarray) -> np.ndarray:
    """64-bit hashes of values as a column in ``hash`` mode stores them (0: missing; text stripped)."""
    s = pd.Series(list(values), dtype=object)
    if st.source == "text":
        try:
            stripped = s.str.strip()
        except AttributeError:  # no string at all
            stripped = pd.Series(np.nan, index=s.index, dtype=object)
        s = stripped.where(stripped.notna(), s.astype(str))
    else:
        s = s.astype(str)
    h = pd.util.hash_array(s.to_numpy(dtype=object)) if len(s) else np.zeros(0, dtype=np.uint64)
    h[h == 0] = 1
    h[np.asarray(missing, dtype=bool)] = 0
    return h


def add_chunk(states: dict, chunk: dict, label: str) -> tuple[np.ndarray, dict, dict, dict]:
    """Add one chunk (column -> ``("dict", values, codes)`` or ``("num", x)``) to the column states.

    Returns
    -------
    present : bool array
        Rows whose label is present.
    stored : dict
        Each column's rows as the engine stores them: global uint16 codes (``dict`` mode),
        float64 numbers (``num``) or uint64 value hashes (``hash``; 0 missing).
    switched : dict
        column -> its mode before this chunk, for columns whose mode changed.
    inputs : dict
        The chunk's columns after :func:`coerce`.
    """
    lab = coerce(chunk[label], states[label])
    if lab[0] == "dict":
        present = ~np.append(states[label].local_missing(lab[1]), True)[lab[2]]
    else:
        present = ~np.isnan(lab[1])
    stored, switched, inputs = {}, {}, {}
    for c, st in states.items():
        inp = inputs[c] = coerce(chunk[c], st)
        before = st.mode
        out = st.add_dict(inp[1], inp[2], present) if inp[0] == "dict" else st.add_num(inp[1], present)
        if st.mode != before:
            switched[c] = before
        if st.mode == "dict":
            stored[c] = out
        elif st.mode == "num":
            stored[c] = np.asarray(out, dtype=np.float64)
        elif inp[0] == "dict":
            local = inp[1]
            h = np.append(value_hashes(st, local, st.local_missing(local)), np.uint64(0))
            stored[c] = h[inp[2]]
        else:
            x = inp[1]
            stored[c] = value_hashes(st, x, np.isnan(x))
    return present, stored, switched, inputs
