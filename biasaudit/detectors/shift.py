"""Selection bias between two samples, e.g. train and test split (STATISTICS.md §2.3).

``ctx.options["compare"]`` is the raw second sample.  It is prepared with the first sample's
roles (:func:`biasaudit.roles.apply_roles`: same label, same bin edges, same multi-valued
indicators); a column the audit uses but the second sample lacks is a ``DataError``.

* **Categorical attributes and the label**: the 2 x K table sample x level (missing values as a
  level of their own, so a change in missingness is a shift too), tested by §1.1
  (``stats.independence_test``: Pearson X², Fisher, Freeman-Halton exact, seeded Monte Carlo or
  pooling).  Effects: TVD between the two conditional distributions,
  ½ Σ_k |O_1k/n_1 - O_2k/n_2|, and the bias-corrected Cramér's V.  Under no shift the TVD is about
  E₀ ≈ ½ Σ_k √(2 p_k (1-p_k)(1/n_1 + 1/n_2)/π) (pooled p_k); with E₀ ≥ 0.05 the TVD is "not
  estimable at this n" and its level is graded on max(0, TVD - E₀).
* **Numeric attributes** (raw values, not bins): the k-sample Anderson-Darling test (midrank
  variant; permutation p-value when scipy's interpolation clips) is the one pre-specified decision
  test: it handles ties and is more sensitive in the tails than KS, which is reported beside it
  with the PSI over first-sample quantile bins and the Wasserstein distance in first-sample
  standard deviations (``stats.numeric_shift``).  The effect level is that of the PSI.

Derived columns (value counts and indicators of multi-valued attributes) are not tested
separately: their shift is a consequence of their parent's.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import stats
from ..engine.context import AuditContext
from ..engine.counts import encode_column
from ..errors import DataError
from ..findings import BiasType, Finding
from ..engine.roles import MISSING, _as_text, apply_roles

__all__ = ["shift", "two_sample_table"]

_TVD_NOISE_LIMIT = 0.05
_SD_PATTERN = 0.2


def shift(ctx: AuditContext) -> list[Finding]:
    """Findings comparing the audited sample with ``ctx.options["compare"]``; nothing without it."""
    other = (ctx.options or {}).get("compare")
    if other is None:
        return []
    if isinstance(other, (str, bytes)) or hasattr(other, "__fspath__"):
        from ..loaders import load
        other = load(other)
    if not isinstance(other, pd.DataFrame):
        raise DataError(f"The compare sample must be a DataFrame or a file path. Got {type(other).__name__}.")
    roles = ctx.roles
    prepared = apply_roles(other, roles, what="compare sample")
    if len(prepared) == 0:
        raise DataError("The compare sample has no rows with a label; there is nothing to compare.")
    out = []
    columns = [roles.label] + [c for c in roles.attributes if c not in roles.derived]
    for col in columns:
        if roles.kinds.get(col) == "numeric":
            f = _numeric_finding(ctx, col, other)
        else:
            f = _categorical_finding(ctx, col, prepared)
        if f is not None:
            out.append(f)
    return out


def two_sample_table(ctx: AuditContext, column: str, prepared: pd.DataFrame) -> tuple[np.ndarray, list]:
    """2 x K counts (row 0: the audited sample, row 1: the compare sample) over the union of levels."""
    t = ctx.table.count(column)
    levels = list(t.levels[0])
    first = dict(zip(levels, t.counts.tolist()))
    codes, lv = encode_column(prepared[column])
    w = prepared[ctx.roles.weight].to_numpy(dtype=float) if ctx.roles.weight else None
    counts = np.bincount(codes, weights=w, minlength=len(lv))
    second = dict(zip(lv, counts.tolist()))
    names = [l for l in levels if l != MISSING] + [l for l in lv if l not in first and l != MISSING]
    if first.get(MISSING, 0) or second.get(MISSING, 0):
        names.append(MISSING)
    table = np.array([[first.get(l, 0) for l in names], [second.get(l, 0) for l in names]], dtype=float)
    keep = table.sum(axis=0) > 0
    return table[:, keep], [l for l, k in zip(names, keep) if k]


def _effect(tvd: float, null: float) -> tuple[int, bool]:
    estimable = null < _TVD_NOISE_LIMIT
    return stats.effect_level("tvd", tvd if estimable else max(0.0, tvd - null)), estimable


def _categorical_finding(ctx: AuditContext, col: str, prepared: pd.DataFrame) -> Finding | None:
    alpha = ctx.settings.alpha
    table, names = two_sample_table(ctx, col, prepared)
    n1, n2 = table.sum(axis=1)
    if n1 <= 0 or n2 <= 0 or table.shape[1] < 1:
        return None
    if not np.allclose(table, np.round(table)):
        return None  # non-integer weights: no exact count test
    t = np.round(table).astype(np.int64)
    q1, q2 = table[0] / n1, table[1] / n2
    tvd = float(0.5 * np.abs(q1 - q2).sum())
    pooled = table.sum(axis=0) / table.sum()
    n_eff = 1.0 / (1.0 / n1 + 1.0 / n2)
    null = float(0.5 * np.sum(np.sqrt(2 * pooled * (1 - pooled) / (math.pi * n_eff))))
    level, estimable = _effect(tvd, null)
    if t.shape[1] < 2:
        res = stats.TestResult("not testable (one level)", math.nan, None, 1.0, 1.0, True, "one level in both samples")
        v = math.nan
    else:
        named = pd.DataFrame(t, index=["this sample", "compare sample"], columns=[f"{col}={x}" for x in names])
        res = stats.independence_test(named, alpha=alpha, rng=ctx.rng(21), exact_2x2=ctx.settings.exact_2x2)
        v = stats.cramers_v(t, corrected=True)
    diffs = q1 - q2
    j = int(np.argmax(np.abs(diffs)))
    is_label = col == ctx.roles.label
    what = f"the label {col}" if is_label else col
    only_second = [names[k] for k in range(len(names)) if t[0, k] == 0 and t[1, k] > 0]
    msg = (f"The distribution of {what} differs between this sample (n={n1:g}) and the compare sample "
           f"(n={n2:g}) by TVD {tvd:.3f} (chance alone gives about {null:.2f}"
           + ("" if estimable else ", not estimable at this n") + f"); largest difference {col}={names[j]}: "
           f"{100 * q1[j]:.0f}% vs {100 * q2[j]:.0f}%"
           + (f"; only in the compare sample: {', '.join(only_second[:4])}" if only_second else "")
           + (f"; corrected Cramér's V {v:.2f}" if math.isfinite(v) else "") + f"; {res.test} p={res.p_value:.3g}")
    evidence = tuple({"value": names[k], "n_sample": float(table[0, k]), "share_sample": float(q1[k]),
                      "n_compare": float(table[1, k]), "share_compare": float(q2[k])} for k in range(len(names)))
    return Finding(
        id=f"selection:shift:{col}", bias_type=BiasType.SELECTION.value, detector="shift", kind="shift",
        attributes={col: None}, label_value=None, message=msg, test=res.test, statistic=res.statistic,
        p_value=res.p_value, p_min=res.p_min, testable=res.p_min <= alpha, in_family=True, effect_size=tvd,
        effect_size_name="tvd", effect_level=level, n=int(round(n1 + n2)),
        pattern=bool(tvd >= _TVD_NOISE_LIMIT and tvd > null), evidence=evidence,
        suggestion=(f"Split the data stratified by {col} (or re-draw the split at random) so that both samples "
                    f"have the same {col} distribution; otherwise evaluate per {col} group."),
        details={"table": t.tolist(), "levels": names, "tvd": tvd, "null_tvd": null, "tvd_estimable": estimable,
                 "cramers_v_corrected": v, "cramers_v": stats.cramers_v(t, corrected=False) if t.shape[1] > 1
                 else math.nan, "dof": res.dof, "valid": res.valid, "note": res.note,
                 "only_in_compare": only_second})


def _numeric_values(frame: pd.DataFrame, col: str, label: str) -> np.ndarray:
    keep = _as_text(frame[label]).notna().to_numpy()
    return pd.to_numeric(frame[col][keep], errors="coerce").to_numpy(dtype=float)


def _numeric_finding(ctx: AuditContext, col: str, other: pd.DataFrame) -> Finding | None:
    alpha = ctx.settings.alpha
    a = _numeric_values(ctx.raw, col, ctx.roles.label)
    b = _numeric_values(other, col, ctx.roles.label)
    a_ok, b_ok = a[~np.isnan(a)], b[~np.isnan(b)]
    if a_ok.size < 2 or b_ok.size < 2:
        return None
    r = stats.numeric_shift(a_ok, b_ok, rng=ctx.rng(22))
    psi, wsd = r["psi"], r["wasserstein_sd"]
    level = stats.effect_level("psi", psi)
    p, p_min = r["ad_p"], 0.0
    direction = "higher" if np.median(b_ok) > np.median(a_ok) else "lower"
    miss_a, miss_b = float(np.isnan(a).mean()), float(np.isnan(b).mean())
    msg = (f"{col} shifts between this sample (n={a_ok.size}, median {np.median(a_ok):.4g}) and the compare sample "
           f"(n={b_ok.size}, median {np.median(b_ok):.4g}, {direction}) by {wsd:.2f} standard deviations "
           f"(Wasserstein), PSI {psi:.2f}, KS D {r['ks_statistic']:.3f}; Anderson-Darling p={p:.3g}")
    return Finding(
        id=f"selection:shift:{col}", bias_type=BiasType.SELECTION.value, detector="shift", kind="shift",
        attributes={col: None}, message=msg, test="Anderson-Darling k-sample (midrank)",
        statistic=r["ad_statistic"], p_value=p, p_min=p_min, testable=True, in_family=True, effect_size=psi,
        effect_size_name="psi", effect_level=level, n=int(a_ok.size + b_ok.size),
        pattern=bool(level >= 1 or wsd >= _SD_PATTERN),
        evidence=({"sample": "this", "n": int(a_ok.size), "median": float(np.median(a_ok)), "missing_share": miss_a},
                  {"sample": "compare", "n": int(b_ok.size), "median": float(np.median(b_ok)),
                   "missing_share": miss_b}),
        suggestion=(f"Check how the two samples were drawn; split stratified by binned {col}, or evaluate "
                    f"the model per {col} range."),
        details={**r, "missing_share_sample": miss_a, "missing_share_compare": miss_b})
