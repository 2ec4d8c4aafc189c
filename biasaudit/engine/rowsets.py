"""Duplicate rows and conflicting labels over every row, from row hash counts (no row sample).

Pass two counts 64-bit hashes of whole rows (:mod:`biasaudit.engine.rowhash`).  When some rows
repeat, one more pass over the stored codes collects what the reporting and label-quality
detectors show: the first rows of the largest groups (by size, then first appearance), their
values, the column margins of the chance baseline and the group shares without the copies.
Statistics are left to the detectors; this module only counts.
"""
from __future__ import annotations

import numpy as np

from .._safe import shorten
from .levels import MISSING, fmt_value
from .rowhash import DenseGroups, GroupAccumulator, group_sum
from .summaries import NULL16

__all__ = ["duplicates", "conflicts", "summarize", "MAX_GROUPS", "MAX_ROWS_SHOWN"]

#: Groups (duplicate rows, conflicting vectors) described in full.
MAX_GROUPS = 20
#: Rows named per duplicate group.
MAX_ROWS_SHOWN = 50


def summarize(kind: str, acc, bits: int) -> dict:
    """What is kept of pass two's row key counts (a :class:`DenseGroups` or a merged hash accumulator).

    Duplicates: rows, distinct rows, coincident pairs and the groups of more than one row (key, size,
    first row).  Conflicts: weighted rows, distinct attribute vectors, the error floor and the vectors
    with more than one label (key, label counts, first row).  Everything else is released.
    """
    if kind == "duplicates":
        if isinstance(acc, DenseGroups):
            rows = acc.rows
            multi = np.flatnonzero(rows > 1)
            keys, sizes, first = multi.astype(np.uint64), rows[multi].astype(np.int64), acc.first[multi].astype(np.int64)
            n, n_distinct = int(rows.sum(dtype=np.int64)), int(np.count_nonzero(rows))
        else:
            k, rows, _, f = acc.flush()
            multi = rows > 1
            keys, sizes, first = k[multi], rows[multi], f[multi]
            n, n_distinct = int(rows.sum()), int(len(k))
        return {"n": n, "n_distinct": n_distinct, "pairs": int((sizes * (sizes - 1) // 2).sum()),
                "keys": keys, "sizes": sizes, "first": first}
    width = 1 << bits
    if isinstance(acc, DenseGroups):  # cell = vector * 2**bits + label: one row of the matrix per vector
        counts = (acc.rows if acc.sums is None else acc.sums).reshape(-1, width).astype(float)
        firsts = acc.first.reshape(-1, width)
        present = np.flatnonzero(acc.rows.reshape(-1, width).any(axis=1))
        counts, firsts = counts[present], firsts[present]
        vkeys = present.astype(np.uint64)
        vfirst = firsts.min(axis=1).astype(np.int64)
    else:
        k, _, sums, f = acc.flush()
        v, y = k >> np.uint64(bits), (k & np.uint64(width - 1)).astype(np.int64)
        vkeys, inv = np.unique(v, return_inverse=True)
        counts = np.bincount(inv * width + y, weights=sums, minlength=len(vkeys) * width).reshape(-1, width)
        vfirst = np.full(len(vkeys), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(vfirst, inv, f)
    sizes = counts.sum(axis=1)
    n = float(sizes.sum())
    bad = np.flatnonzero((counts > 0).sum(axis=1) >= 2)
    return {"n": n, "n_vectors": int(len(vkeys)), "floor": float((sizes - counts.max(axis=1)).sum()),
            "keys": vkeys[bad], "counts": counts[bad], "first": vfirst[bad]}


def _value(scan, col: str, stored):
    """A stored value as the loaded value (None when missing; None for hashed text; long text shortened as
    :func:`biasaudit._safe.shorten` names it)."""
    t = scan.typed[col]
    if stored is None:
        return None
    if t.mode == "dict":
        code = int(stored)
        if code == NULL16 or t.canon is None or code >= len(t.canon):
            return None
        v = t.distinct.iloc[int(t.canon[code])]
    elif t.mode == "num":
        v = float(stored)
        if v != v:
            return None
        if t.int_dtype:
            v = int(v)
    else:
        return None
    v = v.item() if hasattr(v, "item") else v
    return shorten(v) if isinstance(v, str) else v


def row_labels(scan, positions, id_values=None) -> list[str]:
    """How rows are named: the first id column's value when it is known, else ``row N`` (1-based)."""
    positions = [int(p) for p in positions]
    ids = scan.roles.ids
    if ids:
        frame = scan.source.frame if scan.source is not None else None
        if frame is not None and ids[0] in frame.columns:
            vals = frame[ids[0]].iloc[positions].tolist()
            return [shorten(v) for v in vals]
        if id_values is not None:
            out = []
            for p, v in zip(positions, id_values):
                x = _value(scan, ids[0], v)
                out.append(str(x) if x is not None else f"row {p + 1}")
            return out
    return [f"row {p + 1}" for p in positions]


def _first_k(groups: np.ndarray, pos: np.ndarray, extra: np.ndarray, k: int):
    """Per group, the (at most) ``k`` smallest positions (with their ``extra`` values)."""
    if not len(groups):
        return groups, pos, extra
    order = np.lexsort((pos, groups))
    g, p, e = groups[order], pos[order], extra[order]
    start = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    rank = np.arange(len(g)) - np.repeat(start, np.diff(np.r_[start, len(g)]))
    keep = rank < k
    return g[keep], p[keep], e[keep]


class _Rows:
    """Collects, over the chunks of one pass, the first ``k`` rows of each chosen group, the id values
    at them and each group's stored values (any of its rows: a group's rows are identical in ``columns``)."""

    def __init__(self, scan, columns, k: int) -> None:
        ids = scan.roles.ids
        self.id_col = ids[0] if ids and ids[0] in scan.columns else None
        self.columns, self.k = list(columns), k
        self.read = list(dict.fromkeys(self.columns + ([self.id_col] if self.id_col else [])))

    def chunk(self, offset: int, stored: dict, g: np.ndarray) -> tuple:
        rows = np.flatnonzero(g >= 0)
        grp = g[rows]
        idv = stored[self.id_col][rows] if self.id_col else None
        idv = idv.astype(np.float64) if idv is not None and idv.dtype in (np.uint16, np.float64) \
            else np.zeros(len(rows))
        gg, pp, ee = _first_k(grp, rows + offset, idv, self.k)
        u, first = np.unique(grp, return_index=True)
        return gg, pp, ee, u, {c: stored[c][rows[first]] for c in self.columns}

    def combine(self, scan, parts: list):
        g = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
        pos = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
        idv = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0)
        g, pos, idv = _first_k(g, pos, idv, self.k)
        values: dict = {}
        for p in parts:
            for i, grp in enumerate(p[3]):
                values.setdefault(int(grp), {c: p[4][c][i] for c in self.columns})
        idv = idv.astype(np.int64) if self.id_col and scan.typed[self.id_col].mode == "dict" else None
        return g, pos, idv, values


def _margin(stored: np.ndarray, keyer, col: str):
    """A chunk's counts of a column's values (missing is a value): by typed value for a dictionary
    column (global codes: chunks add up), else the distinct value ids with their counts."""
    canon = keyer.canon[col]
    if stored.dtype == np.uint16:
        bc = np.bincount(stored, minlength=NULL16 + 1)
        per = np.bincount(canon, weights=bc[:len(canon)]) if canon is not None and len(canon) else np.zeros(0)
        return np.append(per, bc[NULL16]).astype(np.int64)
    return group_sum(keyer.ids({col: stored}, col))


def duplicates(scan) -> dict:
    """Duplicate rows over every column but ids and the weight (rows with weight 0 left out).

    Returns
    -------
    dict
        ``columns``, ``n`` (rows compared), ``n_distinct``, ``redundant`` (n - n_distinct), ``pairs``
        (sum of C(m, 2) over groups of m identical rows), ``groups``; when rows repeat also
        ``evidence`` (the largest groups, then by first row: copies, row names, values), ``margins``
        (per column the counts of its values, missing included) and ``skew`` (label and attribute ->
        levels, their weighted counts and the weighted copies in excess of one per group).
    """
    cols = scan.dup_columns()
    sm = scan.row_counts["duplicates"]
    n = sm["n"]
    out = {"columns": cols, "n": n, "n_distinct": sm["n_distinct"], "redundant": n - sm["n_distinct"],
           "pairs": sm["pairs"], "groups": int(len(sm["keys"]))}
    out["column_info"] = {c: {"n_unique": scan.typed[c].n_unique_all, "kind": scan.typed[c].kind,
                              "integral": bool(scan.typed[c].integral)} for c in cols}
    if out["redundant"] == 0:
        return out
    sizes_m, first_m = sm["sizes"], sm["first"]
    top = np.lexsort((first_m, -sizes_m))[:MAX_GROUPS]  # the largest groups, then the earliest
    order = np.argsort(sm["keys"])
    dup_keys, dup_sizes = sm["keys"][order], sizes_m[order]
    rank = np.full(len(order), -1, dtype=np.int64)
    rank[np.argsort(order)[top]] = np.arange(len(top))  # sorted group index -> rank among the shown groups
    roles = scan.roles
    groups = [roles.label] + [g for g in roles.attributes if g not in roles.derived]
    preps = {a: scan.preps[a] for a in groups}
    weights_of = scan.weight_reader()
    keyer = scan.keyers(("duplicates",))["duplicates"]
    lookup = None
    if keyer.dense:
        lookup = np.full(keyer.cells, -1, dtype=np.int64)
        lookup[dup_keys.astype(np.intp)] = np.arange(len(dup_keys))
    collect = _Rows(scan, cols, MAX_ROWS_SHOWN)

    classes = np.unique(dup_sizes)  # group sizes present: copies beyond one are summed per size, exactly
    size_class = np.searchsorted(classes, dup_sizes)
    n_cls = len(classes)

    def task(offset, m, stored):
        h = keyer(stored)
        w = weights_of(stored)
        w1 = np.ones(m) if w is None else w
        rows_ok = np.ones(m, dtype=bool) if w is None else w > 0
        if lookup is not None:  # dense keys: a table of every cell
            g = np.where(rows_ok, lookup[h.astype(np.intp)], -1)
        else:
            idx = np.searchsorted(dup_keys, h).clip(0, len(dup_keys) - 1)
            g = np.where((dup_keys[idx] == h) & rows_ok, idx, -1)
        marg = {c: _margin(stored[c][rows_ok], keyer, c) for c in counted}
        y = preps[roles.label].encode(stored[roles.label])
        keep = y >= 0
        cls = np.where(g >= 0, size_class[g.clip(0)], n_cls)  # n_cls: not in a duplicate group
        skew = {}
        for a in groups:
            codes = (y if a == roles.label else preps[a].encode(stored[preps[a].source]))[keep].astype(np.int64)
            by = np.bincount(codes * (n_cls + 1) + cls[keep], weights=w1[keep],
                             minlength=len(preps[a].levels) * (n_cls + 1))
            skew[a] = by.reshape(len(preps[a].levels), n_cls + 1)  # level x size class: weight of the rows
        shown = np.where(g >= 0, rank[g.clip(0)], -1)
        return {"margins": marg, "skew": skew, "rows": collect.chunk(offset, stored, shown)}

    known = {} if roles.weight else {c: m for c in cols if (m := _summary_margin(scan.typed[c])) is not None}
    counted = [c for c in cols if c not in known]  # margins the summaries do not hold: counted in the pass
    read = list(dict.fromkeys(collect.read + [roles.label] + [preps[a].source for a in groups]
                              + ([roles.weight] if roles.weight else [])))
    acc = scan.map_stored(task, read, _DupTotals(counted))
    margins = {c: known[c] if c in known else acc.margin(c) for c in cols}
    share = (classes - 1) / classes  # a group of m identical rows holds m - 1 copies
    skew = {a: (scan.levels[a], acc.skew[a].sum(axis=1), acc.skew[a][:, :n_cls] @ share) for a in groups}
    g, pos, idv, values = collect.combine(scan, acc.rows)
    evidence = []
    for i, gi in enumerate(top):
        sel = g == i
        names = row_labels(scan, pos[sel], None if idv is None else idv[sel])
        vals = values.get(i, {})
        evidence.append({"copies": int(sizes_m[gi]), "rows": names,
                         "values": {c: _value(scan, c, vals.get(c)) for c in cols}})
    out.update({"evidence": evidence, "margins": margins, "skew": skew})
    return out


class _DupTotals:
    """The duplicate detail pass's results, added up chunk by chunk (memory bounded by the distinct values)."""

    def __init__(self, cols) -> None:
        self.dict_margins: dict = {}
        self.hashed = {c: GroupAccumulator() for c in cols}
        self.skew: dict = {}
        self.rows: list = []

    def add(self, part: dict) -> None:
        for c, m in part["margins"].items():
            if isinstance(m, tuple):
                self.hashed[c].add(m)
            else:
                self.dict_margins[c] = _merge_margin([self.dict_margins[c], m]) if c in self.dict_margins else m
        for a, t in part["skew"].items():
            self.skew[a] = self.skew[a] + t if a in self.skew else t
        self.rows.append(part["rows"])

    def margin(self, c: str) -> np.ndarray:
        return self.dict_margins[c] if c in self.dict_margins else self.hashed[c].flush()[1]


def _summary_margin(t) -> np.ndarray | None:
    """A column's value counts over every row (missing included) from pass one's summary, when it has them."""
    if t.mode == "hash" or (t.mode == "num" and not t.exact):
        return None
    counts = np.asarray(t.kept, dtype=np.int64) + np.asarray(t.dropped, dtype=np.int64)
    return np.append(counts[counts > 0], t.n_missing_all)


def _merge_margin(parts: list) -> np.ndarray:
    """A dictionary column's value counts over chunks (the last entry: missing values)."""
    width = max(len(a) for a in parts)
    total = np.zeros(width, dtype=np.int64)
    for a in parts:  # the last entry of each is the missing count
        total[:len(a) - 1] += a[:-1]
        total[-1] += a[-1]
    return total


def conflicts(scan) -> dict:
    """Attribute vectors (raw values of the audited columns' parents) that carry more than one label.

    Returns
    -------
    dict
        ``columns``, ``n`` (weighted rows), ``n_vectors``, ``vectors`` (the largest conflicting
        vectors, then by first appearance: values as text, n, per label its count and first row
        names), ``n_vectors_conflicting``, ``n_rows_conflicting``, ``share_conflicting`` and
        ``error_floor`` (share of rows no rule on these columns classifies correctly).
    """
    cols = scan.vector_columns()
    label = scan.roles.label
    levels = scan.levels[label]
    k = len(levels)
    sm = scan.row_counts["conflicts"]
    bits = max(1, int(k - 1).bit_length())
    counts, n = sm["counts"][:, :k], sm["n"]
    sizes = counts.sum(axis=1)
    n_conf = float(sizes.sum())
    out = {"columns": cols, "n": n, "n_vectors": sm["n_vectors"], "n_vectors_conflicting": int(len(counts)),
           "n_rows_conflicting": n_conf, "share_conflicting": n_conf / n if n else 0.0,
           "error_floor": sm["floor"] / n if n else 0.0, "vectors": []}
    if not len(counts):
        return out
    top = np.lexsort((sm["first"], -sizes))[:MAX_GROUPS]  # the largest vectors, then the earliest
    uv = sm["keys"]
    order = np.argsort(uv[top])
    top_v = uv[top][order]
    pos_rank = order  # top_v[j] is top[order[j]], whose rank is order[j]
    keyer = scan.keyers(("conflicts",))["conflicts"]
    y_prep = scan.preps[label]
    collect = _Rows(scan, cols, 10)

    def task(offset, m, stored):
        h = keyer(stored)
        h = (h << np.uint64(bits)) >> np.uint64(bits)  # as the vector part of the pass-two keys
        yy = y_prep.encode(stored[label])
        idx = np.searchsorted(top_v, h).clip(0, len(top_v) - 1)
        r = np.where((top_v[idx] == h) & (yy >= 0), pos_rank[idx], -1)
        return collect.chunk(offset, stored, np.where(r >= 0, r * k + yy, -1))

    g, pos, idv, values = collect.combine(scan, scan.map_stored(task, list(dict.fromkeys(collect.read + [label]))))
    vectors = []
    for i, row in enumerate(top):
        vals = next((values[x] for x in sorted(values) if x // k == i), {})  # row: index among the bad vectors
        by_label = {}
        for j in np.flatnonzero(counts[row] > 0):
            sel = g == i * k + j
            by_label[levels[j]] = {"n": float(counts[row, j]),
                                   "ids": row_labels(scan, pos[sel], None if idv is None else idv[sel])}
        shown = {}
        for c in cols:
            x = _value(scan, c, vals.get(c))
            shown[c] = MISSING if x is None else fmt_value(x)
        vectors.append({"values": shown, "n": float(sizes[row]), "labels": by_label})
    out["vectors"] = vectors
    return out
