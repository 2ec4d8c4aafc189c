r"""Calibration of a model's score by group (private to :mod:`biasaudit.detectors.predictions`).

The score is binned (each distinct value when there are at most ``MAX_DISTINCT``, else deciles);
per group and bin the outcome rate P(label = positive | bin, group) is reported.  Equal
calibration of a group and the reference group is tested stratified by score bin: with
:math:`a_b, n_{1b}` the positives and rows of the group in bin b and :math:`c_b, n_{0b}` those of
the reference, the Cochran-Mantel-Haenszel test of the 2 x 2 x B table
(``stats.cmh_test``; the exact conditional test when the Mantel-Fleiss criterion fails), and as
effect the Mantel-Haenszel risk difference

.. math:: RD_{MH} = \frac{\sum_b (a_b n_{0b} - c_b n_{1b}) / N_b}{\sum_b n_{1b} n_{0b} / N_b},

the difference in outcome rates at the same score (Greenland & Robins 1985), graded as |SPD|.

References
----------
Mantel, N. & Haenszel, W. (1959). JNCI 22, 719-748.
Greenland, S. & Robins, J. M. (1985). Biometrics 41, 55-68.
Chouldechova, A. (2017). Big Data 5, 153-163 (calibration vs error-rate balance).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import stats
from ..findings import BiasType, Finding, hypothesis_key
from ..engine.roles import roles_bin_labels

__all__ = ["calibration_findings", "score_bins", "MAX_DISTINCT"]

#: A score with at most this many distinct values is binned by value; otherwise in deciles.
MAX_DISTINCT = 20


def score_bins(score: np.ndarray) -> tuple[np.ndarray, list]:
    """Bin index per row (-1 where the score is missing) and the bin labels."""
    valid = ~np.isnan(score)
    uniq = np.unique(score[valid])
    out = np.full(score.size, -1, dtype=np.int64)
    if uniq.size <= MAX_DISTINCT:
        out[valid] = np.searchsorted(uniq, score[valid])
        return out, [f"{v:g}" for v in uniq]
    edges = np.unique(np.quantile(score[valid], np.linspace(0, 1, 11)))
    cut = pd.cut(score[valid], bins=edges, include_lowest=True, labels=False)
    out[valid] = np.asarray(cut, dtype=np.int64)
    return out, roles_bin_labels([float(e) for e in edges])


def _rd_mh(strata: np.ndarray) -> float:
    a, n1 = strata[:, 0, 0], strata[:, 0].sum(axis=1)
    c, n0 = strata[:, 1, 0], strata[:, 1].sum(axis=1)
    big_n = n1 + n0
    ok = (n1 > 0) & (n0 > 0)
    num = np.sum((a * n0 - c * n1)[ok] / big_n[ok])
    den = np.sum((n1 * n0)[ok] / big_n[ok])
    return float(num / den) if den > 0 else float("nan")


def calibration_findings(ctx, o: dict, w, reference) -> tuple[list, list]:
    """Calibration rows for the section and one finding per (attribute, group != reference)."""
    roles, s = ctx.roles, ctx.settings
    bins, labels = score_bins(o["score"])
    n_bins = len(labels)
    valid = bins >= 0
    y = o["y"]
    score_col = ctx.options.get("score")
    rows, out = [], []
    for attribute in roles.sensitive:
        levels = list(ctx.table.levels[attribute])
        k = len(levels)
        idx = (ctx.table.codes[attribute].astype(np.int64) * n_bins + bins) * 2 + (~y).astype(np.int64)
        cube = np.bincount(idx[valid], weights=None if w is None else w[valid],
                           minlength=k * n_bins * 2).reshape(k, n_bins, 2)
        for g in range(k):
            for b in range(n_bins):
                n = float(cube[g, b].sum())
                if n > 0:
                    rows.append({"attribute": attribute, "group": levels[g], "bin": labels[b], "n": n,
                                 "positives": float(cube[g, b, 0]), "rate": float(cube[g, b, 0] / n)})
        sizes = cube.sum(axis=(1, 2))
        if np.count_nonzero(sizes) < 2:
            continue
        ref = reference(ctx, attribute, levels, cube.reshape(k, -1))
        for g in range(k):
            if g == ref or sizes[g] == 0:
                continue
            strata = np.rint(np.stack([cube[g], cube[ref]], axis=1)).astype(np.int64)  # (B, 2, 2)
            res = stats.cmh_test(list(strata))
            if res.n_strata == 0:
                continue
            rd = _rd_mh(strata.astype(float))
            lvl = stats.effect_level("spd", abs(rd)) if math.isfinite(rd) else 0
            who, against = f"{attribute}={levels[g]}", f"{attribute}={levels[ref]}"
            direction = "higher" if rd > 0 else "lower"
            msg = (f"At the same {score_col}, the {roles.label}={roles.positive} rate of {who} is "
                   f"{100 * abs(rd):.1f} points {direction} than that of {against} (Mantel-Haenszel risk difference "
                   f"{rd:+.3f}, odds ratio {res.odds_ratio:.2f}, {res.n_strata} score bins; {res.test} "
                   f"p={res.p_value:.3g})")
            out.append(Finding(
                id=f"prediction_disparity:{attribute}={levels[g]}:calibration:vs={levels[ref]}",
                bias_type=BiasType.PREDICTION_DISPARITY.value, detector="predictions", kind="calibration",
                attributes={attribute: levels[g]}, label_value=roles.positive, message=msg, test=res.test,
                statistic=res.statistic, p_value=res.p_value, p_min=res.p_min, testable=res.p_min <= s.alpha,
                in_family=True, effect_size=rd, effect_size_name="mh_risk_difference", effect_level=lvl,
                n=int(strata.sum()), pattern=lvl >= 1,
                hypothesis=hypothesis_key("prediction-calibration", [attribute, roles.label],
                                          {attribute: levels[g], "vs": levels[ref]}),
                evidence=tuple({"bin": labels[b], "n_group": int(strata[b, 0].sum()),
                                "rate_group": _r(strata[b, 0]), "n_reference": int(strata[b, 1].sum()),
                                "rate_reference": _r(strata[b, 1])} for b in range(n_bins)
                               if strata[b].sum() > 0),
                suggestion=(f"Recalibrate {score_col} within {attribute} groups or report group-specific outcome "
                            f"rates; equal calibration and equal error rates cannot both hold when base rates "
                            f"differ (Chouldechova 2017)."),
                details={"reference_group": levels[ref], "odds_ratio_mh": res.odds_ratio, "cmh_p": res.cmh_p,
                         "exact_p": res.exact_p, "breslow_day_p": res.breslow_day_p,
                         "mantel_fleiss": res.mantel_fleiss, "strata": strata.tolist(), "note": res.note}))
    return out, rows


def _r(t: np.ndarray) -> float | None:
    n = t.sum()
    return float(t[0] / n) if n else None
