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


def bin_case(x, miss, edges: np.ndarray, open_edges: bool):
    """SQL bin index of ``x`` for ``edges`` as :meth:`ColumnPrep.encode` bins it (NULL: missing / out of range)."""
    import sqlalchemy as sa
    e = [float(v) for v in edges]
    last = len(e) - 2
    whens = [(miss, sa.null()), (x < e[0], sa.literal(0) if open_edges else sa.null())]
    whens += [(x <= e[i + 1], sa.literal(i)) for i in range(len(e) - 1)]
    return sa.case(*whens, else_=sa.literal(last) if open_edges else sa.null())


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
        elif prep.edges is not None:
            key = ("bin", p)
            sql = bin_case(rel.col(src), missing_clause(rel, src, kind, is_int), prep.edges, prep.open_edges)
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
        return np.where(raw < 0, prep.missing_code, raw).astype(np.int64)
    if e.how == "code":
        return raw.astype(np.int64)
    return np.asarray(prep.encode(raw), dtype=np.int64)


def count_tables(scan, rel, present) -> tuple[dict, float]:
    """The count arrays of ``scan.tables`` (rows with a label), and their total (rows or weight).

    ``scan`` is a :class:`~biasaudit.engine.sqlscan.SqlScan` after its summary (``tables``,
    ``preps``, ``indicators``, ``sizes``, ``states``, ``roles``).
    """
    import sqlalchemy as sa
    preps = {**scan.preps, **scan.indicators}
    of, exprs = _expressions(scan, rel)
    keys = list(exprs)
    weight = scan.roles.weight
    wexpr = None
    if weight is not None:
        w_state = scan.states[weight]
        if w_state.mode == "num":
            wexpr = sa.cast(rel.col(weight), sa.Float)
        else:  # weights held as a dictionary (text): grouped, multiplied on the client
            wkey = ("raw", weight)
            exprs.setdefault(wkey, _Expr(wkey, rel.col(weight), "dict", weight))
            keys = list(exprs)
    inner_cols = [exprs[k].sql.label(f"g{i}") for i, k in enumerate(keys)]
    if wexpr is not None:
        inner_cols.append(wexpr.label("w"))
    inner = sa.select(*inner_cols).select_from(rel.rel).where(present).subquery("t")
    g = [inner.c[f"g{i}"] for i in range(len(keys))]
    agg = sa.func.sum(inner.c.w) if wexpr is not None else sa.func.count()
    dict_weight = weight is not None and wexpr is None
    sets = []
    for t in scan.tables:
        idx = sorted({keys.index(of[p]) for p in t} | ({keys.index(("raw", weight))} if dict_weight else set()))
        sets.append(idx)
    total_set = sorted({keys.index(("raw", weight))}) if dict_weight else []
    all_sets = sets + [total_set]
    results: list[tuple[list, list]] = []  # per set: (its expression indices, rows)
    if rel.dialect in GROUPING_SETS_DIALECTS:
        used = sorted({i for s in all_sets for i in s})
        stmt = sa.select(*[g[i] for i in used], *[sa.func.grouping(g[i]) for i in used], agg).group_by(
            sa.func.grouping_sets(*[sa.tuple_(*[g[i] for i in s]) for s in all_sets]))
        rows = rel.execute(stmt).fetchall()
        pos = {i: j for j, i in enumerate(used)}
        by_mask: dict = {}
        for r in rows:
            by_mask.setdefault(tuple(r[len(used):2 * len(used)]), []).append(r)
        for s in all_sets:
            mask = tuple(0 if i in s else 1 for i in used)
            got = by_mask.get(mask, [])
            results.append((s, [tuple(r[pos[i]] for i in s) + (r[-1],) for r in got]))
    else:
        for s in all_sets:
            cols = [g[i] for i in s]
            stmt = sa.select(*cols, agg).select_from(inner)
            stmt = stmt.group_by(*cols) if cols else stmt
            results.append((s, [tuple(r) for r in rel.execute(stmt).fetchall()]))
    weighted = weight is not None
    out = {t: np.zeros(tuple(scan.sizes[c] for c in t), dtype=np.float64 if weighted else np.int64)
           for t in scan.tables}
    total = 0.0
    for j, (s, rows) in enumerate(results):
        n = np.array([0 if r[-1] is None else r[-1] for r in rows], dtype=float if weighted else np.int64)
        raw = {}
        for col, i in enumerate(s):
            raw[keys[i]] = _decode(exprs[keys[i]], [r[col] for r in rows], scan)
        if dict_weight:
            n = n * scan.counter().weight_table[raw[("raw", weight)].astype(np.int64)]
        if j == len(sets):
            total = float(n.sum())
            continue
        t = scan.tables[j]
        codes = [_codes(p, preps[p], exprs[of[p]], raw[of[p]]) for p in t]
        bad = np.zeros(len(n), dtype=bool)
        for c in codes:
            bad |= c < 0
        if bad.any():
            label_code = codes[t.index(scan.roles.label)] if scan.roles.label in t else None
            if label_code is None or (bad & (label_code >= 0)).any():
                raise RuntimeError(f"biasaudit bug: a counted value of {t} has no code in the summary.")
            keep = ~bad
            codes, n = [c[keep] for c in codes], n[keep]
        np.add.at(out[t], tuple(codes), n.astype(out[t].dtype))
    return out, total

