"""Pass two of the SQL engine: the planned count tables, computed in the database by GROUP BY.

Each prepared column (see :class:`~biasaudit.engine.summaryroles.ColumnPrep`) becomes one SQL
expression over its source column:

* a column audited by its values (a category, a multi-valued column's parent, a small integer):
  the column itself; the database groups by the raw values and the client maps each distinct
  value to its code with the pass-one dictionary, as the file engine maps a chunk's values;
* a binned number: ``CASE WHEN x < e0 ... WHEN x <= e1 THEN 0 ... END`` with the bin edges as
  bound parameters (``pd.cut``'s right-closed bins, lowest edge included), so a continuous
  column sends one row per bin, not per value;
* a hidden missingness indicator: ``CASE WHEN <missing> THEN 0 ELSE 1 END``.

The covering tables the planner chose (:func:`~biasaudit.engine.store.cover`) become the
grouping sets of one ``GROUP BY GROUPING SETS`` query over the rows with a label (PostgreSQL,
DuckDB: one scan of the table) or one ``GROUP BY`` query per table (SQLite).  Only the counts,
one row per non-empty cell, cross the wire; they are added into the arrays the
:class:`~biasaudit.engine.store.CountStore` serves.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .sqlsummary import GROUPING_SETS_DIALECTS, missing_clause

__all__ = ["count_tables", "bin_case"]


def bin_case(x, miss, cuts: np.ndarray):
    """SQL bin index of ``x`` at ``cuts`` as :func:`~biasaudit.engine.levels.cut_codes` bins it: the number
    of cuts below ``x`` (right-closed bins), NULL when missing; cut points are bound parameters."""
    import sqlalchemy as sa
    c = [float(v) for v in cuts]
    whens = [(miss, sa.null())] + [(x <= c[i], sa.literal(i)) for i in range(len(c))]
    return sa.case(*whens, else_=sa.literal(len(c)))


class _Expr:
    """One grouped SQL expression and how its result values become raw codes."""

    def __init__(self, key: tuple, sql, how: str, source: str) -> None:
        self.key, self.sql, self.how, self.source = key, sql, how, source


def _expressions(scan, rel) -> tuple[dict, dict]:
    """Prepared column -> expression key, and key -> :class:`_Expr` (deduplicated)."""
    import sqlalchemy as sa
    preps = {**scan.preps, **scan.indicators}
    of, exprs = {}, {}
    for p, prep in preps.items():
        src = prep.source
        st = scan.states[src]
        kind, is_int = rel.kinds[src], src in rel.int_columns
        if prep.indicator and st.mode != "dict":
            key = ("ind", src)
            sql = sa.case((missing_clause(rel, src, kind, is_int), 0), else_=1)
            how = "code"
        elif prep.cuts is not None:
            key = ("bin", p)
            sql = bin_case(rel.col(src), missing_clause(rel, src, kind, is_int), prep.cuts)
            how = "bin"
        else:
            key = ("raw", src)
            sql = rel.col(src)
            how = "dict" if st.mode == "dict" else "num"
        of[p] = key
        exprs.setdefault(key, _Expr(key, sql, how, src))
    return of, exprs


def _decode(e: _Expr, vals: list, scan) -> np.ndarray:
    """Raw codes (uint16 dictionary codes, float64 numbers, or bin / indicator codes) of result values."""
    if e.how == "dict":
        codes, uniques = pd.factorize(pd.Series(vals, dtype=object), use_na_sentinel=True)
        local = [u.item() if isinstance(u, np.generic) else u for u in list(uniques)]
        return scan.states[e.source].global_codes(local, codes.astype(np.int64))
    if e.how == "num":
        return np.array([np.nan if v is None else float(v) for v in vals], dtype=float)
    return np.array([-1 if v is None else int(v) for v in vals], dtype=np.int64)


def _codes(p: str, prep, e: _Expr, raw: np.ndarray) -> np.ndarray:
    if e.how == "bin":
        return np.where(raw < 0, prep.missing_code, prep.bin_map[raw.clip(0)]).astype(np.int64)
    if e.how == "code":
        return raw.astype(np.int64)
    return np.asarray(prep.encode(raw), dtype=np.int64)


def count_tables(scan, rel, present, tables) -> dict:
    """Pass two in the database: the count arrays of ``tables`` over the rows with a label.

    Returns what :meth:`~biasaudit.engine.scan.Scan.finish_count` reads: ``tables`` (column tuple ->
    array), ``n`` (rows, or the sum of the weights divided by ``scan.weight_unit``) and ``w2`` (the
    sum of the squared scaled weights, for Kish's effective sample size).  ``scan`` is a
    :class:`~biasaudit.engine.sqlscan.SqlScan` after :meth:`resolve`.
    """
    import sqlalchemy as sa
    tables = [tuple(t) for t in tables]
    preps = {**scan.preps, **scan.indicators}
    of, exprs = _expressions(scan, rel)
    weight = scan.roles.weight
    weighted = weight is not None
    num_weight = weighted and scan.states[weight].mode == "num"
    dict_weight = weighted and not num_weight  # weights held as a dictionary (text): grouped, looked up here
    if dict_weight:
        exprs.setdefault(("raw", weight), _Expr(("raw", weight), rel.col(weight), "dict", weight))
    keys = list(exprs)
    inner_cols = [exprs[k].sql.label(f"g{i}") for i, k in enumerate(keys)]
    if num_weight:
        inner_cols.append(sa.cast(rel.col(weight), sa.Float).label("w"))
    inner = sa.select(*inner_cols).select_from(rel.rel).where(present).subquery("t")
    g = [inner.c[f"g{i}"] for i in range(len(keys))]
    aggs = [sa.func.sum(inner.c.w), sa.func.sum(inner.c.w * inner.c.w)] if num_weight else [sa.func.count()]
    wk = {keys.index(("raw", weight))} if dict_weight else set()
    sets = [sorted({keys.index(of[p]) for p in t} | wk) for t in tables] + [sorted(wk)]  # the last: the total
    results = _grouped(rel, g, aggs, sets, inner)
    reader = scan.weight_reader() if dict_weight else None
    unit = float(scan.weight_unit)
    out = {t: np.zeros(tuple(scan.sizes[c] for c in t), dtype=np.float64 if weighted else np.int64) for t in tables}
    part = {"tables": out, "n": 0, "w2": 0.0}
    for j, (s, rows) in enumerate(results):
        raw = {keys[i]: _decode(exprs[keys[i]], [r[col] for r in rows], scan) for col, i in enumerate(s)}
        if num_weight:
            n = np.array([0.0 if r[-2] is None else float(r[-2]) for r in rows]) / unit
            w2 = np.array([0.0 if r[-1] is None else float(r[-1]) for r in rows]) / (unit * unit)
        else:
            n = np.array([int(r[-1]) for r in rows], dtype=np.int64)
            if dict_weight:
                w = reader.table[raw[("raw", weight)].astype(np.int64)]
                n, w2 = n * w, n * w * w
        if j == len(tables):
            part["n"] = float(n.sum()) if weighted else int(n.sum())
            part["w2"] = float(w2.sum()) if weighted else 0.0
            continue
        t = tables[j]
        codes = [_codes(p, preps[p], exprs[of[p]], raw[of[p]]) for p in t]
        bad = np.zeros(len(n), dtype=bool)
        for c in codes:
            bad |= c < 0
        if bad.any():
            raise RuntimeError(f"biasaudit bug: a counted value of {t} has no code in the summary.")
        np.add.at(out[t], tuple(codes), n.astype(out[t].dtype))
    return part


def _grouped(rel, g: list, aggs: list, sets: list, inner) -> list:
    """Per grouping set (indices into ``g``): its result rows ``(group values..., aggregates...)``.

    One ``GROUP BY GROUPING SETS`` query where the dialect has them (one scan of the relation), else
    one ``GROUP BY`` query per set.
    """
    import sqlalchemy as sa
    results = []
    if rel.dialect in GROUPING_SETS_DIALECTS:
        used = sorted({i for s in sets for i in s})
        if not used:  # only the total
            return [(s, [tuple(r) for r in rel.execute(sa.select(*aggs).select_from(inner)).fetchall()])
                    for s in sets]
        stmt = sa.select(*[g[i] for i in used], *[sa.func.grouping(g[i]) for i in used], *aggs).group_by(
            sa.func.grouping_sets(*[sa.tuple_(*[g[i] for i in s]) for s in sets]))
        rows = rel.execute(stmt).fetchall()
        pos = {i: j for j, i in enumerate(used)}
        k, na = len(used), len(aggs)
        by_mask: dict = {}
        for r in rows:
            by_mask.setdefault(tuple(r[k:2 * k]), []).append(r)
        for s in sets:
            mask = tuple(0 if i in s else 1 for i in used)
            results.append((s, [tuple(r[pos[i]] for i in s) + tuple(r[-na:]) for r in by_mask.get(mask, [])]))
        return results
    for s in sets:
        cols = [g[i] for i in s]
        stmt = sa.select(*cols, *aggs).select_from(inner)
        stmt = stmt.group_by(*cols) if cols else stmt
        results.append((s, [tuple(r) for r in rel.execute(stmt).fetchall()]))
    return results
