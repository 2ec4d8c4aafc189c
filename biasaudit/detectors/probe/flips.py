"""Counterfactual flip rates: how often does changing one attribute alone change the prediction?"""
from __future__ import annotations

import numpy as np

from .models import Design

__all__ = ["flip_rates", "group_accuracy", "MAX_FLIP_ROWS", "N_BOOT"]

#: Above this many training rows the flip rate is estimated on a seeded sample of rows.
MAX_FLIP_ROWS = 20_000
#: Bootstrap resamples of the rows for the interval.
N_BOOT = 2_000


def flip_rates(design: Design, model, rng: np.random.Generator, alpha: float = 0.05,
               max_rows: int = MAX_FLIP_ROWS, n_boot: int = N_BOOT) -> list[dict]:
    r"""Counterfactual flip rate of every attribute for a fitted model (STATISTICS.md §6.5).

    .. math::
        \mathrm{CFR}_a = \frac{\sum_i \sum_{v \ne x_{ia}} 1[f(x_i[a := v]) \ne f(x_i)]}
                              {\sum_i |\{v \ne x_{ia}\}|}

    over the training rows i and the observed non-missing levels v of a (that is
    :math:`n(|V_a| - 1)` trials without missing values).  Computed exactly over the attribute
    patterns (weighted by their row counts) up to ``max_rows`` rows, else on a seeded sample of
    ``max_rows`` rows.  The interval is a percentile bootstrap over rows for the fitted model
    (the model is not refitted: it describes *this* model's reliance), drawn as multinomial
    counts over the distinct (flips, trials) row types.

    Returns
    -------
    list of dict
        attribute, flips, trials, rate, ci_low, ci_high, rows, exact.
    """
    w = design.counts.sum(axis=1)
    exact = design.n <= max_rows
    if exact:
        src, wt = design.patterns, w
    else:
        idx = rng.choice(len(w), size=max_rows, replace=True, p=w / w.sum())
        src, wt = design.patterns[idx], np.ones(max_rows)
    x0 = design.onehot(src)
    base = model.predict(x0)
    out = []
    for a, name in enumerate(design.attributes):
        off, width = int(design.offsets[a]), len(design.levels[a])
        flips = np.zeros(len(src))
        trials = np.zeros(len(src))
        for v in design.valid_levels(a):
            sel = src[:, a] != v
            if not sel.any():
                continue
            xv = x0[sel].copy()
            xv[:, off:off + width] = 0.0
            xv[:, off + v] = 1.0
            flips[sel] += model.predict(xv) != base[sel]
            trials[sel] += 1
        f_tot, t_tot = float(wt @ flips), float(wt @ trials)
        rate = f_tot / t_tot if t_tot else float("nan")
        lo, hi = _bootstrap_ci(flips, trials, wt, rng, alpha, n_boot) if t_tot else (float("nan"), float("nan"))
        out.append({"attribute": name, "flips": f_tot, "trials": t_tot, "rate": rate, "ci_low": lo,
                    "ci_high": hi, "rows": float(wt.sum()), "exact": bool(exact)})
    return out


def _bootstrap_ci(flips, trials, wt, rng, alpha, n_boot) -> tuple[float, float]:
    frac = np.divide(flips, trials, out=np.zeros(len(flips)), where=trials > 0)
    used = trials > 0
    if np.ptp(frac[used]) == 0:          # every row flips the same share: no sampling variation
        return float(frac[used][0]), float(frac[used][0])
    types, inv = np.unique(np.column_stack([flips, trials]), axis=0, return_inverse=True)
    tw = np.bincount(inv.reshape(-1), weights=wt, minlength=len(types))
    n = int(round(wt.sum()))
    draws = rng.multinomial(n, tw / tw.sum(), size=n_boot).astype(float)
    den = draws @ types[:, 1]
    num = draws @ types[:, 0]
    rates = np.divide(num, den, out=np.full(n_boot, np.nan), where=den > 0)
    rates = rates[np.isfinite(rates)]
    if not len(rates):
        return float("nan"), float("nan")
    return float(np.quantile(rates, alpha / 2)), float(np.quantile(rates, 1 - alpha / 2))


def group_accuracy(design: Design, model, attribute: int, oof_pred: np.ndarray | None = None) -> list[dict]:
    """Training accuracy of ``model`` in every (attribute value, label) group, e.g. blond males.

    ``oof_pred`` (out-of-fold predictions on ``design.row_codes``) adds a cross-validated accuracy.
    """
    pred = model.predict(design.onehot(design.patterns))
    out = []
    for v, level in enumerate(design.levels[attribute]):
        m = design.patterns[:, attribute] == v
        for k, label in enumerate(design.labels):
            n = float(design.counts[m, k].sum())
            if n == 0:
                continue
            right = float(design.counts[m & (pred == k), k].sum())
            rec = {"attribute": design.attributes[attribute], "value": level, "label": label, "n": n,
                   "correct": right, "accuracy": right / n}
            if oof_pred is not None:
                r = (design.row_codes[:, attribute] == v) & (design.row_labels == k)
                rec["n_cv"] = int(r.sum())
                rec["accuracy_cv"] = float(np.mean(oof_pred[r] == k)) if r.any() else None
            out.append(rec)
    return out
