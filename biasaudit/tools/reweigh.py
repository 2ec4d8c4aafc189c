r"""Acting on a finding: per-row weights that remove a disparity or a selection bias.

Two methods, both written as a weights file that ``biasaudit scan DATA --weight-file FILE``
re-audits with:

* :func:`reweigh` -- Kamiran & Calders (2012) reweighing: every row of group g (the joint of the
  chosen attributes) with label y gets :math:`w(g, y) = P(g)P(y)/P(g, y)`, which makes the label
  independent of the attributes in the weighted data while keeping every group's and every label's
  total.
* :func:`rake` -- raking to reference margins by iterative proportional fitting (Deming & Stephan
  1940): the weights are multiplied, margin after margin, by target share / weighted share until
  every margin of the reference (a single attribute or a joint ``a|b``) is met; the number of
  sweeps and the largest absolute margin error are reported.  No maintained library on PyPI
  offers IPF on per-row weights with this interface (statsmodels has none), so it is written here
  with numpy.

The weights file and auditing with it are described in :mod:`biasaudit.weightfile` (its
functions are re-exported here).  Rows left out of the audit (missing label) or outside the
reference get weight 0.

References
----------
Kamiran, F. & Calders, T. (2012). Data preprocessing techniques for classification without
discrimination. Knowledge and Information Systems 33, 1-33.
Deming, W. E. & Stephan, F. F. (1940). On a least squares adjustment of a sampled frequency
table when the expected marginal totals are known. Ann. Math. Stat. 11, 427-444.
"""
from __future__ import annotations

import os

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd

from ..engine.counts import CodedTable, encode
from ..errors import DataError
from ..validation import renamed
from ..engine.roles import LABEL_NAMES, _as_text, resolve
from ..engine.weights import (
    WEIGHT_COLUMN,
    WEIGHT_FILE_COLUMN,
    attach_weight_file,
    kish_n_eff,
    read_weight_file,
    weighted_table,
    write_weights,
)

__all__ = ["WEIGHT_COLUMN", "WEIGHT_FILE_COLUMN", "ReweighResult", "kamiran_calders", "ipf", "reweigh", "rake",
           "write_weights", "read_weight_file", "attach_weight_file", "weighted_table", "kish_n_eff"]


@dataclass(frozen=True)
class ReweighResult:
    """Per-row weights and how they were obtained.

    Attributes
    ----------
    method : {"kamiran-calders", "raking"}
    weights : numpy.ndarray
        One weight per row of the data as given (0 for rows left out).
    label : str or None
    attributes : tuple of str
        The attributes balanced (reweighing) or raked (the reference's attributes / joints).
    cells : pandas.DataFrame
        Reweighing: one row per (group, label): the attribute values, the label, ``n``,
        ``expected`` :math:`= n P(g)P(y)` and ``weight``.  Raking: one row per reference cell:
        ``margin``, ``value``, ``n``, ``sample_share``, ``target_share``, ``weighted_share``.
    iterations : int
        IPF sweeps (1 for reweighing).
    max_abs_error : float
        Largest absolute difference between a weighted and a target share (reweighing: of the
        joint (group, label) shares against P(g)P(y)).
    converged : bool
    notes : tuple of str
    id_column : str or None
        The identifier column written beside the weights.
    ids : numpy.ndarray or None
    positive : str or None
        The label's positive value (for the rates in :meth:`lines`).
    """

    method: str
    weights: np.ndarray
    label: str | None
    attributes: tuple
    cells: pd.DataFrame
    iterations: int = 1
    max_abs_error: float = 0.0
    converged: bool = True
    notes: tuple = ()
    id_column: str | None = None
    ids: np.ndarray | None = field(default=None, repr=False)
    positive: str | None = None

    def to_frame(self) -> pd.DataFrame:
        """The weights file: the identifier column (when there is one) and ``weight``."""
        out = {} if self.id_column is None else {self.id_column: self.ids}
        out[WEIGHT_COLUMN] = self.weights
        return pd.DataFrame(out)

    def group_rates(self) -> pd.DataFrame:
        """Reweighing: per group, the positive rate before and after weighting."""
        if self.method != "kamiran-calders" or self.label is None or self.cells.empty:
            return pd.DataFrame()
        c = self.cells.assign(weighted=self.cells["n"] * self.cells["weight"],
                              pos=(self.cells[self.label] == self.positive))
        g = c.groupby(list(self.attributes), observed=True, sort=False)
        out = pd.DataFrame({"n": g["n"].sum(),
                            "rate_before": g.apply(lambda d: d.loc[d["pos"], "n"].sum() / d["n"].sum(),
                                                   include_groups=False),
                            "rate_after": g.apply(lambda d: d.loc[d["pos"], "weighted"].sum() / d["weighted"].sum(),
                                                  include_groups=False)})
        return out.reset_index()

    def lines(self) -> list[str]:
        """A plain-text summary (what the ``reweigh`` command prints)."""
        w = self.weights[self.weights > 0]
        out = [f"{self.method}: {w.size:,} weighted rows, weights {w.min():.4g} to {w.max():.4g}, "
               f"effective sample size {kish_n_eff(self.weights):,.1f}"]
        if self.method == "kamiran-calders":
            rates = self.group_rates()
            for r in rates.to_dict(orient="records"):
                who = ", ".join(f"{a}={r[a]}" for a in self.attributes)
                out.append(f"  {who} (n={r['n']:g}): {self.label}={self.positive} rate {100 * r['rate_before']:.1f}% "
                           f"-> {100 * r['rate_after']:.1f}% weighted")
            if len(rates) >= 2 and rates["rate_after"].max() > 0:
                di0 = rates["rate_before"].min() / rates["rate_before"].max()
                di1 = rates["rate_after"].min() / rates["rate_after"].max()
                out.append(f"  disparate impact {di0:.3f} -> {di1:.3f} weighted")
        else:
            out.append(f"  {'converged' if self.converged else 'NOT converged'} after {self.iterations} sweep(s); "
                       f"largest margin error {self.max_abs_error:.2e}")
            for r in self.cells.to_dict(orient="records"):
                out.append(f"  {r['margin']}={r['value']}: sample {100 * r['sample_share']:.2f}% -> "
                           f"{100 * r['weighted_share']:.2f}% weighted (target {100 * r['target_share']:.2f}%)")
        return out + [f"note: {n}" for n in self.notes]

    def to_dict(self) -> dict:
        w = self.weights[self.weights > 0]
        return {"method": self.method, "label": self.label, "attributes": list(self.attributes),
                "n_rows": int(self.weights.size), "n_weighted": int(w.size),
                "weight_min": float(w.min()) if w.size else None, "weight_max": float(w.max()) if w.size else None,
                "n_eff": kish_n_eff(self.weights), "iterations": self.iterations,
                "max_abs_error": self.max_abs_error, "converged": self.converged, "notes": list(self.notes),
                "cells": self.cells.to_dict(orient="records")}


# ------------------------------------------------------------------------------ the two methods
def kamiran_calders(groups: np.ndarray, labels: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
    r"""Kamiran & Calders reweighing factors, one per row.

    .. math:: w(g, y) = \frac{P(g)\,P(y)}{P(g, y)}

    with the probabilities estimated from the (``base``-weighted) rows.  Weighted, the label is
    independent of the group, and the weights sum to the (weighted) number of rows.

    Parameters
    ----------
    groups, labels : array of int of shape (n,)
        Integer codes of the group (the joint of the chosen attributes) and of the label.
    base : array of shape (n,), optional
        Frequency weights of the rows (default 1).

    Returns
    -------
    numpy.ndarray of shape (n,)
        The factor of each row (multiply it into ``base`` to get the row's weight).

    References
    ----------
    Kamiran & Calders (2012), Knowl. Inf. Syst. 33:1-33, section 5.2.
    """
    groups, labels = np.asarray(groups, dtype=np.int64), np.asarray(labels, dtype=np.int64)
    b = np.ones(groups.size) if base is None else np.asarray(base, dtype=float)
    k_g, k_y = int(groups.max()) + 1, int(labels.max()) + 1
    joint = np.bincount(groups * k_y + labels, weights=b, minlength=k_g * k_y).reshape(k_g, k_y)
    total = joint.sum()
    expected = np.outer(joint.sum(axis=1), joint.sum(axis=0)) / total
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(joint > 0, expected / joint, 0.0)
    return factor[groups, labels]


def ipf(margins: list[tuple[np.ndarray, np.ndarray]], base: np.ndarray, *, tol: float = 1e-10,
        max_iter: int = 1000) -> tuple[np.ndarray, int, float, bool]:
    r"""Rake row weights to target margins by iterative proportional fitting.

    Each sweep visits every margin m, with cell codes :math:`c_i` and target shares :math:`t_c`,
    and sets :math:`w_i \leftarrow w_i\, t_{c_i} / \hat t_{c_i}` with :math:`\hat t_c = \sum_{c_i=c}
    w_i / \sum_i w_i`.  It stops when the largest :math:`|\hat t_c - t_c|` over every margin is at
    most ``tol`` (IPF converges whenever a solution exists; Csiszar 1975).

    Parameters
    ----------
    margins : list of (codes, targets)
        ``codes`` int array of shape (n,) (-1: the row is outside the margin and gets weight 0);
        ``targets`` shares per code (sum 1).
    base : array of shape (n,)
        Starting weights.
    tol : float
    max_iter : int

    Returns
    -------
    weights, iterations, max_abs_error, converged
        Weights normalised to sum to ``base.sum()``.

    References
    ----------
    Deming & Stephan (1940) Ann. Math. Stat. 11:427; Csiszar (1975) Ann. Probab. 3:146.
    """
    w = np.asarray(base, dtype=float).copy()
    total = w.sum()
    for codes, _ in margins:
        w[codes < 0] = 0.0
    err, it = np.inf, 0
    for it in range(1, max_iter + 1):
        for codes, targets in margins:
            cur = np.bincount(codes[codes >= 0], weights=w[codes >= 0], minlength=targets.size) / w.sum()
            with np.errstate(divide="ignore", invalid="ignore"):
                f = np.where(cur > 0, targets / cur, 0.0)
            w[codes >= 0] *= f[codes[codes >= 0]]
        err = _max_margin_error(margins, w)
        if err <= tol:
            break
    return w * (total / w.sum()), it, float(err), bool(err <= tol)


def _max_margin_error(margins, w) -> float:
    s = w.sum()
    return max(float(np.max(np.abs(np.bincount(c[c >= 0], weights=w[c >= 0], minlength=t.size) / s - t)))
               for c, t in margins)


# ------------------------------------------------------------------------------ on a table
def _prepare(data, label, attributes, weight, ids, n_bins, positive=None):
    from ..loaders import load
    raw = load(data, label=label) if not isinstance(data, pd.DataFrame) else data
    frame, roles = resolve(raw, label=label, sensitive=attributes, weight=weight, ids=ids,
                           attributes=attributes, n_bins=n_bins, positive=positive)
    keep = _as_text(raw[roles.label]).notna().to_numpy()
    return raw, frame, roles, keep


def _id_column(raw: pd.DataFrame, roles) -> str | None:
    from ..engine.roles import _ID_NAME
    named = [c for c in raw.columns if _ID_NAME.search(str(c)) and c not in roles.ids]
    for c in list(roles.ids) + named:
        if c in raw.columns and raw[c].notna().all() and raw[c].is_unique:
            return c
    return None


def _finish(raw, roles, keep, row_w, **kw) -> ReweighResult:
    weights = np.zeros(len(raw))
    weights[keep] = row_w
    notes = list(kw.pop("notes", ()))
    if (~keep).any():
        notes.append(f"{int((~keep).sum())} row(s) with a missing label get weight 0")
    idc = _id_column(raw, roles)
    return ReweighResult(weights=weights, label=roles.label, notes=tuple(notes), id_column=idc,
                         ids=None if idc is None else raw[idc].to_numpy(), positive=roles.positive, **kw)


def reweigh(data, *, label: str | None = None, sensitive: Iterable[str], weight: str | None = None,
            ids: Iterable[str] | None = None, positive: str | None = None, bins: int | None = None,
            n_bins: int | None = None) -> ReweighResult:
    """Kamiran & Calders reweighing of a table: the label independent of ``sensitive``.

    Parameters
    ----------
    data : DataFrame or path
    label : str, optional
        Inferred as for :func:`biasaudit.audit` when omitted.
    sensitive : list of str
        Attributes whose joint groups are balanced (numeric ones in ``bins`` quantile bins, as
        in the scan).
    weight : str, optional
        Frequency-weight column; the written weights are the factors to multiply it by.
    ids : list of str, optional
        Identifier columns (the first unique one is written beside the weights).
    positive : str, optional
        The label's positive value, for the summary (default: the minority value).

    Returns
    -------
    ReweighResult
    """
    sensitive = tuple(sensitive or ())
    if not sensitive:
        raise ValueError("The 'sensitive' parameter of reweigh must name at least one attribute. Got none instead.")
    n_bins = renamed(bins, n_bins, old="n_bins", new="bins", where="reweigh", default=5)
    raw, frame, roles, keep = _prepare(data, label, sensitive, weight, ids, n_bins, positive)
    cols = [c for c in sensitive if c in roles.attributes]
    table = encode(frame, [roles.label] + cols)
    k = [len(table.levels[c]) for c in cols]
    groups = np.ravel_multi_index(tuple(table.codes[c] for c in cols), k) if len(cols) > 1 else table.codes[cols[0]]
    labels = table.codes[roles.label]
    base = None if weight is None else frame[weight].to_numpy(dtype=float)
    factor = kamiran_calders(groups, labels, base)
    b = np.ones(labels.size) if base is None else base
    cells = _kc_cells(table, cols, roles.label, groups, labels, b, factor)
    err = float(cells["max_err"].iloc[0]) if len(cells) else 0.0
    cells = cells.drop(columns="max_err")
    notes = []
    single = cells.groupby(cols, observed=True)[roles.label].nunique()
    lone = [", ".join(f"{c}={v}" for c, v in zip(cols, key if isinstance(key, tuple) else (key,)))
            for key, m in single.items() if m < 2]
    if lone:
        notes.append("group(s) with a single label value cannot be balanced by weights: " + "; ".join(lone[:5]))
    return _finish(raw, roles, keep, factor, method="kamiran-calders", attributes=tuple(cols), cells=cells,
                   iterations=1, max_abs_error=err, converged=err <= 1e-9, notes=notes)


def _kc_cells(table: CodedTable, cols, label, groups, labels, base, factor) -> pd.DataFrame:
    k_y = len(table.levels[label])
    key = groups * k_y + labels
    uniq, first = np.unique(key, return_index=True)
    n = np.bincount(key, weights=base)[uniq]
    total = base.sum()
    g_tot = np.bincount(groups, weights=base)
    y_tot = np.bincount(labels, weights=base)
    rows = []
    for u, i, n_c in zip(uniq, first, n):
        g, y = divmod(int(u), k_y)
        rec = {c: table.levels[c][table.codes[c][i]] for c in cols}
        rec.update({label: table.levels[label][y], "n": float(n_c), "expected": g_tot[g] * y_tot[y] / total,
                    "weight": float(factor[i])})
        rows.append(rec)
    out = pd.DataFrame(rows)
    w = base * factor
    joint = np.bincount(key, weights=w)[uniq] / w.sum()
    out["max_err"] = float(np.max(np.abs(joint - out["expected"].to_numpy() / total))) if len(out) else 0.0
    return out


def rake(data, reference, *, label: str | None = None, sensitive: Iterable[str] | None = None,
         weight: str | None = None, ids: Iterable[str] | None = None, bins: int | None = None, tol: float = 1e-10,
         max_iter: int = 1000, n_bins: int | None = None) -> ReweighResult:
    """Rake a table to reference margins by iterative proportional fitting.

    Parameters
    ----------
    data : DataFrame or path
    reference : DataFrame, mapping or path
        Population shares in the form of ``--reference`` (attribute, value, share; a joint as
        ``a|b`` with values ``x|y``); checked as for the selection detector.
    sensitive : list of str, optional
        Rake only these reference attributes (default: every attribute of the reference).
    weight : str, optional
        Frequency-weight column (the starting weights); the written weights are factors.
    tol, max_iter : float, int
        Convergence: largest absolute margin error, and the most IPF sweeps.

    Returns
    -------
    ReweighResult
        ``converged`` False (with a note) when the margins cannot be met together.

    Raises
    ------
    DataError
        When a reference cell with a positive share has no row in the data.
    """
    from ..engine.context import AuditContext
    from ..detectors._reference import parse_reference
    from ..loaders import load
    from ..settings import Settings
    raw = load(data, label=label) if not isinstance(data, pd.DataFrame) else data
    from ..detectors._reference import reference_table
    long = reference_table(load(reference) if isinstance(reference, (str, os.PathLike)) else reference)
    if sensitive:
        long = long[[set(a.split("|")) <= set(sensitive) for a in long["attribute"]]]
    if long.empty:
        raise DataError("The reference names none of the attributes to rake" +
                        (f" ({', '.join(sensitive)})." if sensitive else "."))
    label = _infer_label(raw, label)
    cols = list(dict.fromkeys(c for a in long["attribute"] for c in a.split("|")))
    audited = [c for c in cols if c != label and c in raw.columns] or None
    n_bins = renamed(bins, n_bins, old="n_bins", new="bins", where="rake", default=5)
    raw, frame, roles, keep = _prepare(raw, label, audited, weight, ids, n_bins)
    table = encode(frame, [roles.label] + [c for c in roles.attributes])
    ctx = AuditContext(table=table, roles=roles, settings=Settings(), frame=frame, raw=raw)
    specs = parse_reference(long.reset_index(drop=True), ctx)
    margins, rows, notes = [], [], []
    base = np.ones(table.n_rows) if weight is None else frame[weight].to_numpy(dtype=float)
    for spec in specs:
        codes, targets, cell_rows, note = _margin_codes(ctx, spec, base)
        margins.append((codes, targets))
        rows += cell_rows
        notes += list(spec.notes) + note
    w, it, err, ok = ipf(margins, base, tol=tol, max_iter=max_iter)
    s = w.sum()
    for (codes, t), spec in zip(margins, specs):
        got = np.bincount(codes[codes >= 0], weights=w[codes >= 0], minlength=t.size) / s
        for r in rows:
            if r["margin"] == spec.key:
                r["weighted_share"] = float(got[r["_code"]])
    for r in rows:
        del r["_code"]
    if not ok:
        notes.append(f"raking did not converge in {it} sweeps (largest margin error {err:.3g}): the margins "
                     f"cannot all be met with these data")
    factor = np.divide(w, base, out=np.zeros_like(w), where=base > 0)
    return _finish(raw, roles, keep, factor, method="raking", attributes=tuple(s.key for s in specs),
                   cells=pd.DataFrame(rows), iterations=it, max_abs_error=err, converged=ok, notes=notes)


def _infer_label(raw: pd.DataFrame, label: str | None) -> str:
    """The label column as :func:`biasaudit.roles.resolve` infers it."""
    if label is not None:
        return label
    by_lower = {str(c).lower(): c for c in raw.columns}
    return next((by_lower[n] for n in LABEL_NAMES if n in by_lower), raw.columns[-1])


def _margin_codes(ctx, spec, base) -> tuple[np.ndarray, np.ndarray, list, list]:
    from ..detectors._reference import _coded
    per = []
    for j, a in enumerate(spec.attributes):
        codes, levels = _coded(ctx, a, {v[j] for v in spec.values})
        per.append((codes, levels))
    index = {v: i for i, v in enumerate(spec.values)}
    level_maps = [{l: i for i, l in enumerate(levels)} for _, levels in per]
    # code of every data row's cell in the reference (-1: not a reference cell, or a structural zero)
    out = np.full(ctx.table.n_rows, -1, dtype=np.int64)
    combos = {}
    for v, i in index.items():
        key = tuple(level_maps[j].get(p, -2) for j, p in enumerate(v))
        combos[key] = i
    stacked = np.stack([c for c, _ in per], axis=1)
    uniq, inv = np.unique(stacked, axis=0, return_inverse=True)
    look = np.array([combos.get(tuple(int(x) for x in u), -1) for u in uniq], dtype=np.int64)
    out = look[inv.ravel()]
    shares = np.asarray(spec.shares, dtype=float)
    out[(out >= 0) & (shares[np.maximum(out, 0)] == 0)] = -1
    n_cell = np.bincount(out[out >= 0], weights=base[out >= 0], minlength=len(shares))
    empty = [("|".join(v), s) for v, s, m in zip(spec.values, shares, n_cell) if s > 0 and m == 0]
    if empty:
        v, s = empty[0]
        raise DataError(f"Reference cell {spec.key}={v} has share {s:g} but no row in the data; raking cannot "
                        f"give it weight. Merge it with a neighbouring value or drop it from the reference.")
    notes = []
    outside = float(base[out < 0].sum())
    if outside:
        notes.append(f"{outside:g} row(s) have a value of {spec.key} outside the reference (missing, unlisted or "
                     f"share 0): weight 0")
    n_tot = base.sum()
    rows = [{"margin": spec.key, "value": "|".join(v), "n": float(m), "sample_share": float(m / n_tot),
             "target_share": float(s), "weighted_share": float("nan"), "_code": i}
            for i, (v, s, m) in enumerate(zip(spec.values, shares, n_cell))]
    return out, shares, rows, notes
