"""Pass one of the SQL engine: column summaries from aggregate queries, and a seeded row sample.

What the streaming engine learns by reading every row (:mod:`biasaudit.engine.summaries`), the
database computes and sends as a few small results:

1. ``count(*)`` and, per column, ``count(c)`` and ``count(DISTINCT c)`` (one query);
2. for every column with at most ``DICT_CAP`` (text) or ``NUM_EXACT_CAP`` (numbers) distinct
   values, its value counts by label value, ``GROUP BY label, c`` (one query with
   ``GROUPING SETS`` where the dialect has them, else one per column).  The counts go into a
   :class:`~biasaudit.engine.summaries.ColumnState` exactly as a chunk's dictionary would, so types,
   levels and exact quantile bins are those of the file engine;
3. for columns with more distinct values (identifiers, free text, continuous numbers): distinct
   counts among rows with a label, missing counts, minimum and maximum (one query);
4. a seeded row sample for the detectors that need rows: every row when the relation has at
   most ``sample_rows`` rows (in the order the database returns them), else the ``sample_rows``
   rows with the smallest key ``md5(seed | row as text)`` (PostgreSQL, DuckDB) or a 32-bit hash
   of ``(seed, row_number)`` (SQLite, whose row order is stable), so the same seed gives the same
   sample of the same data.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import summaries as _summaries
from .spill import Sample
from .summaries import ColumnState
from ..errors import DataError

__all__ = ["summarize", "present_clause", "missing_clause", "GROUPING_SETS_DIALECTS", "LABEL_CAP",
           "LABEL_TOO_MANY"]

#: Dialects whose GROUP BY takes GROUPING SETS (one scan for many tables).
GROUPING_SETS_DIALECTS = frozenset({"postgresql", "duckdb"})
#: A label with more raw distinct values than this is refused before any grouping by it.
LABEL_CAP = 1000
LABEL_TOO_MANY = ("Label column {label!r} has {n} distinct values; it looks continuous or like an id. "
                  "Binarise it or choose another label with --label.")
_MD5_DIALECTS = frozenset({"postgresql", "duckdb"})


class _Sized:
    """Stands in for a set of distinct hashes when only their number is known (``len()``)."""

    def __init__(self, n: int) -> None:
        self.n = int(n)

    def __len__(self) -> int:
        return self.n


def missing_clause(rel, column: str, kind: str, is_int: bool):
    """SQL condition: the value is missing as the summaries count it (NULL; blank text; NaN)."""
    import sqlalchemy as sa
    c = rel.col(column)
    cond = c.is_(None)
    if kind == "text":
        cond = sa.or_(cond, sa.func.trim(c) == "")
    elif kind == "num" and not is_int and rel.dialect in _MD5_DIALECTS:
        cond = sa.or_(cond, c == sa.cast(sa.literal("NaN"), sa.Float))
    return cond


def present_clause(rel, label: str, missing_values: list):
    """SQL condition: the row's label is present (not NULL and not one of ``missing_values``)."""
    import sqlalchemy as sa
    c = rel.col(label)
    if rel.kinds[label] == "num":  # NULL, and NaN where the database keeps it
        return sa.not_(missing_clause(rel, label, "num", label in rel.int_columns))
    cond = c.is_not(None)
    vals = [v for v in missing_values if v is not None and not (isinstance(v, float) and v != v)]
    if vals:
        cond = cond & c.not_in(vals)
    return cond


def _values(vals: list, kind: str) -> list:
    """Database values as the chunk sources give them (numbers as floats)."""
    if kind == "num":
        return [float(v) if v is not None else None for v in vals]
    return vals


def _factorize(vals: list) -> tuple[list, np.ndarray]:
    codes, uniques = pd.factorize(pd.Series(vals, dtype=object), use_na_sentinel=True)
    return [u.item() if isinstance(u, np.generic) else u for u in list(uniques)], codes.astype(np.int64)


def _stats(rel, columns: list) -> tuple[int, dict, dict]:
    import sqlalchemy as sa
    aggs = [sa.func.count()]
    for c in columns:
        aggs += [sa.func.count(rel.col(c)), sa.func.count(sa.distinct(rel.col(c)))]
    row = rel.execute(sa.select(*aggs).select_from(rel.rel)).one()
    n = int(row[0])
    nonnull = {c: int(row[1 + 2 * i]) for i, c in enumerate(columns)}
    distinct = {c: int(row[2 + 2 * i]) for i, c in enumerate(columns)}
    return n, nonnull, distinct


def _pairs(rel, label: str, cols: list) -> dict:
    """Per column: (label values, column values, counts) of ``GROUP BY label, c`` (and label alone)."""
    import sqlalchemy as sa
    lab = rel.col(label)
    out = {}
    if rel.dialect in GROUPING_SETS_DIALECTS and cols:
        exprs = [rel.col(c) for c in cols]
        sets = [sa.tuple_(lab)] + [sa.tuple_(lab, e) for e in exprs]
        stmt = sa.select(lab, *exprs, *[sa.func.grouping(e) for e in exprs], sa.func.count()).select_from(
            rel.rel).group_by(sa.func.grouping_sets(*sets))
        rows = rel.execute(stmt).fetchall()
        k = len(cols)
        buckets: dict = {c: ([], [], []) for c in [label] + cols}
        for r in rows:
            g = r[1 + k:1 + 2 * k]
            j = next((i for i, x in enumerate(g) if x == 0), None)
            name = label if j is None else cols[j]
            b = buckets[name]
            b[0].append(r[0])
            b[1].append(r[0] if j is None else r[1 + j])
            b[2].append(r[-1])
        return buckets
    for c in [label] + cols:
        if c == label:
            stmt = sa.select(lab, sa.func.count()).select_from(rel.rel).group_by(lab)
            rows = rel.execute(stmt).fetchall()
            out[c] = ([r[0] for r in rows], [r[0] for r in rows], [r[1] for r in rows])
        else:
            e = rel.col(c)
            stmt = sa.select(lab, e, sa.func.count()).select_from(rel.rel).group_by(lab, e)
            rows = rel.execute(stmt).fetchall()
            out[c] = ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    return out


def _state(rel, c: str) -> ColumnState:
    kind = rel.kinds[c]
    dtype = (np.dtype("int64") if c in rel.int_columns else np.dtype("float64")) if kind == "num" else None
    return ColumnState(c, kind, na_strings=frozenset(), pandas_dtype=dtype)


def _absorb(st: ColumnState, kind: str, values: list, present: np.ndarray, counts: np.ndarray) -> None:
    """Value counts (by row: kept when ``present``) into a column state, as one chunk's dictionary."""
    local, codes = _factorize(_values(values, kind))
    k = len(local)
    w = np.asarray(counts, dtype=np.int64)
    kept = np.bincount(codes + 1, weights=w * present, minlength=k + 1).astype(np.int64)
    dropped = np.bincount(codes + 1, weights=w * ~present, minlength=k + 1).astype(np.int64)
    st.absorb(local, kept[1:], dropped[1:], int(kept[0]), int(dropped[0]))


def _wide(rel, cols: list, present) -> dict:
    """Distinct, missing, min and max of high-cardinality columns (one aggregate query)."""
    import sqlalchemy as sa
    aggs = []
    for c in cols:
        e = rel.col(c)
        miss = missing_clause(rel, c, rel.kinds[c], c in rel.int_columns)
        ok = sa.and_(present, sa.not_(miss))
        one = lambda cond: sa.func.sum(sa.case((cond, 1), else_=0))  # noqa: E731
        aggs += [sa.func.count(sa.distinct(sa.case((ok, e)))),
                 sa.func.count(sa.distinct(sa.case((sa.not_(miss), e)))),
                 one(ok), one(sa.and_(present, miss)), one(sa.and_(sa.not_(present), miss))]
        if rel.kinds[c] == "num":
            fin = sa.case((sa.not_(miss), e))
            aggs += [sa.func.min(fin), sa.func.max(fin)]
            aggs += [one(sa.and_(sa.not_(miss), e != sa.func.floor(e)))] if c not in rel.int_columns else [
                sa.literal(0)]
    row = rel.execute(sa.select(*aggs).select_from(rel.rel)).one()
    out, i = {}, 0
    for c in cols:
        m = 8 if rel.kinds[c] == "num" else 5
        out[c] = [0 if v is None else v for v in row[i:i + m]]
        i += m
    return out


def _wide_state(rel, c: str, n: int, vals: list) -> ColumnState:
    st = _state(rel, c)
    kept_distinct, all_distinct, kept_nonnull, null_kept, null_dropped = (int(v) for v in vals[:5])
    st.rows = n
    st.null_kept, st.null_dropped = null_kept, null_dropped
    st.repeat_seen = kept_nonnull > kept_distinct
    if st.mode == "num":
        st.exact, st.counts = False, _summaries._Counts()
        lo, hi, non_integral = float(vals[5]), float(vals[6]), int(vals[7])
        st.vmin = lo if kept_nonnull or all_distinct else float("inf")
        st.vmax = hi if kept_nonnull or all_distinct else float("-inf")
        st.has_inf = bool(np.isinf(lo) or np.isinf(hi))
        st.all_integral = non_integral == 0 and not st.has_inf
        return st
    st.mode, st.exact, st.values, st.index = "hash", False, [], {}
    st.hashes, st.hashes_all = _Sized(kept_distinct), _Sized(all_distinct)
    st.hash_exact = True
    return st


def summarize(rel, label: str, *, sample_rows: int, random_state: int) -> tuple[dict, Sample, int, object]:
    """Pass one over a :class:`~biasaudit.engine.sql.Relation`.

    Returns
    -------
    states : dict of column -> ColumnState
    sample : Sample
        The row sample, coded as the streaming engine codes it (dictionary codes, numbers, raw values of
        hashed columns; ``__present__`` marks rows with a label), in row order.
    n_rows : int
    present : SQL condition selecting the rows with a label (for the counting queries)
    """
    columns = rel.columns
    n, nonnull, distinct = _stats(rel, columns)
    if n == 0:
        raise DataError(f"{rel.description} has no rows. An audit needs labelled rows.")
    if distinct[label] > LABEL_CAP:
        raise DataError(LABEL_TOO_MANY.format(label=label, n=f"{distinct[label]:,}"))
    cap = {c: _summaries.NUM_EXACT_CAP if rel.kinds[c] == "num" else _summaries.DICT_CAP for c in columns}
    narrow = [c for c in columns if c != label and distinct[c] <= cap[c]]
    wide = [c for c in columns if c != label and distinct[c] > cap[c]]
    pairs = _pairs(rel, label, narrow)
    lab_state = _state(rel, label)
    lab_vals, _, lab_counts = pairs[label]
    lab_local, lab_codes = _factorize(_values(lab_vals, rel.kinds[label]))
    lab_miss = np.append(lab_state.local_missing(lab_local), True)
    _absorb(lab_state, rel.kinds[label], lab_vals, ~lab_miss[lab_codes], np.asarray(lab_counts))
    lab_state.rows = n
    missing_labels = [v for v, m in zip(lab_local, lab_miss) if m]
    present = present_clause(rel, label, missing_labels)
    # raw label value -> present, for the pairs and the sample
    lab_index = {v: i for i, v in enumerate(lab_local)}

    def is_present(vals: list) -> np.ndarray:
        idx = np.array([lab_index.get(v, -1) if v is not None else -1 for v in _values(vals, rel.kinds[label])],
                       dtype=np.int64)
        return ~lab_miss[idx]

    states = {label: lab_state}
    for c in narrow:
        lv, vals, counts = pairs[c]
        st = _state(rel, c)
        _absorb(st, rel.kinds[c], vals, is_present(lv), np.asarray(counts))
        st.rows = n
        states[c] = st
    if wide:
        stats = _wide(rel, wide, present)
        for c in wide:
            states[c] = _wide_state(rel, c, n, stats[c])
    states = {c: states[c] for c in columns}
    sample = _sample(rel, label, n, sample_rows, random_state, is_present, states)
    return states, sample, n, present


def _hash32(x, seed: int):
    """A 32-bit integer hash of ``x`` (Mueller's xor-shift-multiply), in SQL integer arithmetic."""
    import sqlalchemy as sa
    mask = 0xFFFFFFFF

    def xor_shift(h):
        s = h.op(">>")(sa.literal(16, sa.BigInteger))
        return (h.op("|")(s)) - (h.op("&")(s))

    h = (x + sa.literal(int(seed) * 0x9E3779B1 % (1 << 31), sa.BigInteger)).op("&")(sa.literal(mask, sa.BigInteger))
    for _ in range(2):
        h = xor_shift(h)
        h = (h * sa.literal(0x45D9F3B, sa.BigInteger)).op("&")(sa.literal(mask, sa.BigInteger))
    return xor_shift(h)


#: Sample rows fetched and coded at a time (the client never holds them all as Python objects).
SAMPLE_FETCH_ROWS = 20_000


def _take(rel, stmt, label: str, states: dict, is_present, size: int) -> Sample:
    """``stmt``'s rows, fetched a part at a time and coded with the summaries' dictionaries."""
    sample = Sample(size)
    result = rel.execute(stmt.execution_options(stream_results=True, yield_per=SAMPLE_FETCH_ROWS)
                         if rel.dialect == "postgresql" else stmt)
    lab_j = rel.columns.index(label)
    got = 0
    while rows := result.fetchmany(SAMPLE_FETCH_ROWS):
        m = len(rows)
        part = {"__present__": is_present([r[lab_j] for r in rows])}
        for j, c in enumerate(rel.columns):
            vals = [r[j] for r in rows]
            st = states[c]
            if rel.kinds[c] == "num" and st.mode == "num":
                part[c] = np.array([np.nan if v is None else float(v) for v in vals], dtype=float)
            else:
                local, codes = _factorize(_values(vals, rel.kinds[c]))
                part[c] = st.global_codes(local, codes)
        sample.add(np.zeros(m), np.arange(got, got + m, dtype=np.int64), part)
        got += m
    sample.compact()
    return sample


def _sample(rel, label: str, n: int, size: int, seed: int, is_present, states: dict) -> Sample:
    import sqlalchemy as sa
    cols = [rel.col(c) for c in rel.columns]
    sample = Sample(size)
    if size <= 0:
        sample.cols = {c: np.empty(0, dtype=object) for c in rel.columns}
        sample.cols["__present__"] = np.empty(0, dtype=bool)
        return sample
    take = lambda stmt: _take(rel, stmt, label, states, is_present, size)  # noqa: E731
    if n <= size:
        return take(sa.select(*cols).select_from(rel.rel))
    elif rel.dialect in _MD5_DIALECTS:
        parts = [sa.func.coalesce(sa.cast(c, sa.Text), sa.literal("\\N")) for c in cols]
        key = sa.func.md5(sa.func.concat_ws(sa.literal("|"), sa.literal(str(int(seed))), *parts)).label("k")
        inner = sa.select(*cols, key).select_from(rel.rel).subquery("s")
        frac = min(1.0, 3.0 * size / n)
        stmt = sa.select(*[inner.c[i] for i in range(len(cols))]).order_by(inner.c.k).limit(size)
        if frac < 1.0:  # most rows fail the filter, so the database sorts few of them
            limit = f"{min(int(frac * 16**8) + 1, 16**8 - 1):08x}"
            sample = take(stmt.where(inner.c.k < limit))
            if len(sample.rows) == size:
                return sample
        return take(stmt)
    else:
        rn = sa.func.row_number().over().label("rn")
        inner = sa.select(*cols, rn).select_from(rel.rel).subquery("s")
        key = _hash32(inner.c.rn, seed)
        stmt = sa.select(*[inner.c[i] for i in range(len(cols))]).order_by(key, inner.c.rn).limit(size)
        return take(stmt)
