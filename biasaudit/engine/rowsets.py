"""Duplicate rows and conflicting labels over every row, from row hash counts (no row sample).

Pass two counts 64-bit hashes of whole rows (:mod:`biasaudit.engine.rowhash`).  When some rows
repeat, one more pass over the stored codes collects what the reporting and label-quality
detectors show: the first rows of the largest groups (by size, then first appearance), their
values, the column margins of the chance baseline and the group shares without the copies.
Statistics are left to the detectors; this module only counts.
"""
from __future__ import annotations

import numpy as np

from .levels import MISSING, fmt_value
from .rowhash import GroupAccumulator, group_sum, row_hash, value_ids
from .summaries import NULL16

__all__ = ["duplicates", "conflicts", "MAX_GROUPS", "MAX_ROWS_SHOWN"]

#: Groups (duplicate rows, conflicting vectors) described in full.
MAX_GROUPS = 20
#: Rows named per duplicate group.
MAX_ROWS_SHOWN = 50


def _value(scan, col: str, stored):
    """A stored value as the loaded value (None when missing; None for hashed text)."""
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
    return v.item() if hasattr(v, "item") else v


def row_labels(scan, positions, id_values=None) -> list[str]:
    """How rows are named: the first id column's value when it is known, else ``row N`` (1-based)."""
    positions = [int(p) for p in positions]
    ids = scan.roles.ids
    if ids:
        frame = scan.source.frame if scan.source is not None else None
        if frame is not None and ids[0] in frame.columns:
            vals = frame[ids[0]].iloc[positions].tolist()
            return [str(v) for v in vals]
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


def _collect(scan, columns, match_fn, k: int, extra=()):
    """One pass: for the rows ``match_fn`` assigns to a group (index >= 0), the first ``k`` positions per group,
    the id values at them, and each group's stored values (any row: a group's rows are identical)."""
    ids = scan.roles.ids
    id_col = ids[0] if ids and ids[0] in scan.columns else None
    read = list(dict.fromkeys(list(columns) + list(extra) + ([id_col] if id_col else [])))

    def task(offset, m, stored):
        g = match_fn(stored)
        rows = np.flatnonzero(g >= 0)
        grp = g[rows]
        idv = stored[id_col][rows] if id_col else None
        idv = idv.astype(np.float64) if idv is not None and idv.dtype in (np.uint16, np.float64) \
            else np.zeros(len(rows))
        gg, pp, ee = _first_k(grp, rows + offset, idv, k)
        u, first = np.unique(grp, return_index=True)
        vals = {c: stored[c][rows[first]] for c in columns}
        return gg, pp, ee, u, vals

    parts = scan.map_stored(task, read)
    g = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    pos = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    idv = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0)
    g, pos, idv = _first_k(g, pos, idv, k)
    values: dict = {}
    for p in parts:
        for i, grp in enumerate(p[3]):
            if int(grp) not in values:
                values[int(grp)] = {c: p[4][c][i] for c in columns}
    if id_col and scan.typed[id_col].mode == "dict":
        idv = idv.astype(np.int64)
    else:
        idv = None
    return g, pos, idv, values


def duplicates(scan) -> dict:
    """Duplicate rows over every column but ids and the weight (rows with weight 0 left out).

    Returns
    -------
    dict
        ``columns``, ``n`` (rows compared), ``n_distinct``, ``redundant`` (n - n_distinct), ``pairs``
        (sum of C(m, 2) over groups of m identical rows), ``groups``; when rows repeat also
        ``evidence`` (the largest groups: copies, row names, values), ``margins`` (per column the
        counts of its values, missing included) and ``skew`` (label and attribute -> levels, their
        weighted counts and the weighted copies in excess of one per group).
    """
    cols = scan.dup_columns()
    keys, rows, _ = scan.row_counts["duplicates"]
    n = int(rows.sum())
    multi = rows > 1
    out = {"columns": cols, "n": n, "n_distinct": int(len(keys)), "redundant": n - int(len(keys)),
           "pairs": int((rows[multi] * (rows[multi] - 1) // 2).sum()), "groups": int(multi.sum())}
    out["column_info"] = {c: {"n_unique": scan.typed[c].n_unique_all, "kind": scan.typed[c].kind,
                              "integral": bool(scan.typed[c].integral)} for c in cols}
    if out["redundant"] == 0:
        return out
    dup_keys, dup_sizes = keys[multi], rows[multi]
    canon = {c: scan.typed[c].canon for c in cols}
    roles = scan.roles
    groups = [roles.label] + [g for g in roles.attributes if g not in roles.derived]
    preps = {a: scan.preps[a] for a in groups}
    weights_of = scan.weight_reader()

    def hashes(stored):
        h = row_hash([value_ids(stored[c], canon[c]) for c in cols])
        w = weights_of(stored)
        idx = np.searchsorted(dup_keys, h).clip(0, len(dup_keys) - 1)
        hit = dup_keys[idx] == h
        if w is not None:
            hit &= w > 0
        return np.where(hit, idx, -1), w

    def task(offset, m, stored):
        g, w = hashes(stored)
        w1 = np.ones(m) if w is None else w
        rows_ok = np.ones(m, dtype=bool) if w is None else w > 0
        marg = {c: group_sum(value_ids(stored[c], canon[c])[rows_ok]) for c in cols}
        y = preps[roles.label].encode(stored[roles.label])
        keep = y >= 0
        hit = np.flatnonzero((g >= 0) & keep)
        # a group's rows are identical: its level of every attribute is that of any of its rows
        weight = np.bincount(g[hit], weights=w1[hit], minlength=len(dup_keys))
        level, totals = {}, {}
        for a in groups:
            codes = y if a == roles.label else preps[a].encode(stored[preps[a].source])
            lv = np.full(len(dup_keys), -1, dtype=np.int64)
            lv[g[hit]] = codes[hit]
            level[a] = lv
            totals[a] = np.bincount(codes[keep], weights=w1[keep], minlength=len(preps[a].levels))
        first = np.full(len(dup_keys), np.iinfo(np.int64).max, dtype=np.int64)
        any_hit = np.flatnonzero(g >= 0)
        np.minimum.at(first, g[any_hit], any_hit + offset)
        return marg, (weight, level, totals), first

    read = list(dict.fromkeys(cols + [roles.label] + [preps[a].source for a in groups]
                              + ([roles.weight] if roles.weight else [])))
    parts = scan.map_stored(task, read)
    margins = {}
    for c in cols:
        acc = GroupAccumulator()
        for p in parts:
            acc.add(p[0][c])
        margins[c] = acc.flush()[1]
    weight = sum(p[1][0] for p in parts)  # per duplicate group: the weight of its audited rows
    extra = np.where(weight > 0, weight * (dup_sizes - 1) / dup_sizes, 0.0)  # copies beyond one per group
    skew = {}
    for a in groups:
        lv = np.maximum.reduce([p[1][1][a] for p in parts])
        k = len(scan.levels[a])
        skew[a] = (scan.levels[a], sum(p[1][2][a] for p in parts),
                   np.bincount(lv[lv >= 0], weights=extra[lv >= 0], minlength=k))
    first = np.minimum.reduce([p[2] for p in parts])
    order = np.lexsort((first, -dup_sizes))[:MAX_GROUPS]
    lut = _lut(order, len(dup_keys))

    def match(stored):
        g, _ = hashes(stored)
        return np.where(g >= 0, lut[g.clip(0)], -1)

    g, pos, idv, values = _collect(scan, cols, match, MAX_ROWS_SHOWN,
                                   extra=[roles.weight] if roles.weight else [])
    evidence = []
    for i, gi in enumerate(order):
        sel = g == i
        names = row_labels(scan, pos[sel], None if idv is None else idv[sel])
        vals = values.get(i, {})
        evidence.append({"copies": int(dup_sizes[gi]), "rows": names,
                         "values": {c: _value(scan, c, vals.get(c)) for c in cols}})
    out.update({"evidence": evidence, "margins": margins, "skew": skew})
    return out


def _lut(order: np.ndarray, size: int) -> np.ndarray:
    """Group index -> its rank among the chosen groups ``order`` (-1 for the others)."""
    lut = np.full(max(size, 1), -1, dtype=np.int64)
    lut[np.asarray(order, dtype=np.int64)] = np.arange(len(order))
    return lut


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
    keys, _, sums = scan.row_counts["conflicts"]
    bits = max(1, int(k - 1).bit_length())
    v = keys >> np.uint64(bits)
    y = (keys & np.uint64((1 << bits) - 1)).astype(np.int64)
    uv, inv = np.unique(v, return_inverse=True)
    counts = np.zeros((len(uv), k))
    np.add.at(counts, (inv, y), sums)
    sizes = counts.sum(axis=1)
    n = float(sizes.sum())
    bad = np.flatnonzero((counts > 0).sum(axis=1) >= 2)
    n_conf = float(sizes[bad].sum())
    out = {"columns": cols, "n": n, "n_vectors": int(len(uv)), "n_vectors_conflicting": int(len(bad)),
           "n_rows_conflicting": n_conf, "share_conflicting": n_conf / n if n else 0.0,
           "error_floor": float((sizes - counts.max(axis=1)).sum() / n) if n else 0.0, "vectors": []}
    if not len(bad):
        return out
    bad_v = uv[bad]
    canon = {c: scan.typed[c].canon for c in cols}
    y_prep = scan.preps[label]

    def vec_group(stored):
        h = row_hash([value_ids(stored[c], canon[c]) for c in cols])
        h = (h << np.uint64(bits)) >> np.uint64(bits)  # as the vector part of the pass-two keys
        yy = y_prep.encode(stored[label])
        idx = np.searchsorted(bad_v, h).clip(0, len(bad_v) - 1)
        return np.where((bad_v[idx] == h) & (yy >= 0), idx, -1), yy

    def first_task(offset, m, stored):
        g, _ = vec_group(stored)
        first = np.full(len(bad_v), np.iinfo(np.int64).max, dtype=np.int64)
        hit = np.flatnonzero(g >= 0)
        np.minimum.at(first, g[hit], hit + offset)
        return first

    read = list(dict.fromkeys(cols + [label]))
    first = np.minimum.reduce(scan.map_stored(first_task, read))
    order = np.lexsort((first, -sizes[bad]))[:MAX_GROUPS]
    lut = _lut(order, len(bad_v))

    def match(stored):  # group = chosen vector x label
        g, yy = vec_group(stored)
        r = np.where(g >= 0, lut[g.clip(0)], -1)
        return np.where(r >= 0, r * k + yy, -1)

    g, pos, idv, values = _collect(scan, cols, match, 10, extra=[label])
    vectors = []
    for i, gi in enumerate(order):
        row = bad[gi]
        vals = values.get(next((x for x in values if x // k == i), -1), {})
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
