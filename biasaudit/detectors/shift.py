r"""Selection bias between two samples, e.g. train and test split (STATISTICS.md §2.3).

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

* **The label given each attribute** (``kind="conditional_shift"``): has :math:`P(label \mid A)` changed?
  The three-way table A x sample x label, tested for conditional independence of sample and label
  given A (sum of the strata's Pearson X², exact conditional Monte Carlo when a stratum is sparse;
  ``stats.conditional_independence_test``).  It catches shifts of opposite direction in different
  strata, which a CMH test averages away.  Effect: the mean over A's levels (weighted by their pooled
  share) of the TVD between the two samples' label distributions, on the TVD scale.
* **Each attribute pair** (``kind="relation_shift"``, at most ``MAX_PAIRS`` pairs): has the relation
  between A and B changed (Waterbirds: background and bird agree 95 % of the time in train, 50 % in
  test)?  The likelihood-ratio test of no three-way interaction sample x A x B
  (``stats.no_three_way_interaction_test``, iterative proportional fitting); a test whose fitted
  values are sparse is reported but kept out of the family.  Effect: the change in Cramér's V of
  A x B between the samples, on Cohen's w scale.

Both samples are read as count tables (the compare sample is counted once with the first sample's
roles).  Derived columns (value counts and indicators of multi-valued attributes) are not tested
separately: their shift is a consequence of their parent's.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import stats
from ..engine.context import AuditContext
from ..engine.counts import encode, encode_column
from ..errors import DataError
from ..findings import BiasType, DetectorResult, Finding, hypothesis_key
from ..engine.roles import MISSING, _as_text, apply_roles

__all__ = ["shift", "two_sample_table"]

_TVD_NOISE_LIMIT = 0.05
_SD_PATTERN = 0.2
#: Attribute pairs tested for a change of relation (more: none, and the section says so).
MAX_PAIRS = 300


def shift(ctx: AuditContext) -> DetectorResult:
    """Findings comparing the audited sample with ``ctx.options["compare"]``; nothing without it."""
    other = (ctx.options or {}).get("compare")
    if other is None:
        return DetectorResult()
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
            out.append(f.evolve(hypothesis=hypothesis_key("shift", [col])))
    second = encode(prepared, columns, weight=roles.weight if roles.weight in prepared.columns else None)
    attrs = columns[1:]
    for a in attrs:
        f = _conditional_shift(ctx, second, a)
        if f is not None:
            out.append(f)
    pairs = [(a, b) for i, a in enumerate(attrs) for b in attrs[i + 1:] if roles.parent(a) != roles.parent(b)]
    if len(pairs) <= MAX_PAIRS:
        for a, b in pairs:
            f = _relation_shift(ctx, second, a, b)
            if f is not None:
                out.append(f)
    return DetectorResult(out)


def _cube(ctx: AuditContext, second, a: str, b: str) -> tuple[np.ndarray, list, list]:
    """Counts (levels of a, 2 samples, levels of b) over the union of both samples' levels."""
    t1, t2 = ctx.table.count(a, b), second.count(a, b)
    la = list(dict.fromkeys(list(t1.levels[0]) + list(t2.levels[0])))
    lb = list(dict.fromkeys(list(t1.levels[1]) + list(t2.levels[1])))
    cube = np.zeros((len(la), 2, len(lb)))
    for s_, t in enumerate((t1, t2)):
        ia = [la.index(x) for x in t.levels[0]]
        ib = [lb.index(x) for x in t.levels[1]]
        cube[np.ix_(ia, [s_], ib)] += np.asarray(t.counts, dtype=float)[:, None, :]
    return cube, la, lb


def _cond_tvd(cube: np.ndarray) -> float:
    """Mean over the first axis (weighted by its pooled share) of the TVD between the samples' distributions."""
    n_a = cube.sum(axis=(1, 2))
    rows = cube.sum(axis=2)                                            # (A, 2)
    ok = (rows > 0).all(axis=1)
    if not ok.any():
        return math.nan
    d = cube[ok] / rows[ok][:, :, None]
    tvd = 0.5 * np.abs(d[:, 0] - d[:, 1]).sum(axis=1)
    return float(np.sum(tvd * n_a[ok]) / n_a[ok].sum())


def _conditional_shift(ctx: AuditContext, second, a: str) -> Finding | None:
    label, alpha = ctx.roles.label, ctx.settings.alpha
    cube, la, ll = _cube(ctx, second, a, label)
    if not np.allclose(cube, np.round(cube)) or (cube.sum(axis=(0, 2)) <= 0).any():
        return None
    res = stats.conditional_independence_test(np.round(cube).astype(np.int64), rng=ctx.rng(23))
    if res["n_strata"] == 0:
        return None
    eff = _cond_tvd(cube)
    level = stats.effect_level("tvd", eff)
    rows = cube.sum(axis=2)
    ok = np.flatnonzero((rows > 0).all(axis=1))
    rates = cube[ok] / rows[ok][:, :, None]
    pos = ll.index(ctx.roles.positive) if ctx.roles.positive in ll else 0
    k = ok[int(np.argmax(np.abs(rates[:, 0, pos] - rates[:, 1, pos])))]
    r1, r2 = cube[k, 0, pos] / rows[k, 0], cube[k, 1, pos] / rows[k, 1]
    msg = (f"The {label} distribution given {a} differs between this sample and the compare sample: mean "
           f"TVD {eff:.3f} over the {a} groups; largest change {label}={ll[pos]} among {a}={la[k]}: "
           f"{100 * r1:.0f}% vs {100 * r2:.0f}%; {res['test']} X²={res['statistic']:.3g}, df={res['dof']}, "
           f"p={res['p_value']:.3g}")
    evidence = tuple({a: la[i], "n_sample": float(rows[i, 0]), "n_compare": float(rows[i, 1]),
                      f"{ll[pos]}_rate_sample": float(cube[i, 0, pos] / rows[i, 0]),
                      f"{ll[pos]}_rate_compare": float(cube[i, 1, pos] / rows[i, 1])} for i in ok)
    return Finding(
        id=f"selection:shift:{label}|{a}", bias_type=BiasType.SELECTION.value, detector="shift",
        kind="conditional_shift", attributes={a: None}, label_value=ll[pos], message=msg, test=res["test"],
        statistic=res["statistic"], p_value=res["p_value"], p_min=res["p_min"], testable=res["p_min"] <= alpha,
        in_family=True, effect_size=eff, effect_size_name="mean_conditional_tvd", effect_level=level,
        n=int(round(cube.sum())), pattern=bool(eff >= _TVD_NOISE_LIMIT), evidence=evidence,
        hypothesis=hypothesis_key("shift-conditional", [label, a], {"given": a}),
        suggestion=(f"The relation between {a} and {label} is not the same in both samples: a model will meet "
                    f"{a} groups whose {label} rates it never saw; evaluate per {a} group, or re-draw the split."),
        details={"table": cube.tolist(), "levels": la, "label_levels": ll, "dof": res["dof"],
                 "n_strata": res["n_strata"], "note": res["note"], "mc_se": res.get("mc_se")})


def _relation_shift(ctx: AuditContext, second, a: str, b: str) -> Finding | None:
    alpha = ctx.settings.alpha
    cube, la, lb = _cube(ctx, second, a, b)
    if not np.allclose(cube, np.round(cube)):
        return None
    per = cube.transpose(1, 0, 2)                                     # (2 samples, A, B)
    if (per.sum(axis=(1, 2)) <= 0).any():
        return None
    res = stats.no_three_way_interaction_test(per)
    if res["dof"] == 0 or not math.isfinite(res["statistic"]):
        return None
    v = [stats.cramers_v(p_[p_.sum(axis=1) > 0][:, p_.sum(axis=0) > 0], corrected=False)
         if min((p_.sum(axis=1) > 0).sum(), (p_.sum(axis=0) > 0).sum()) >= 2 else 0.0 for p_ in per]
    dv = abs(v[0] - v[1]) if all(math.isfinite(x) for x in v) else math.nan
    dfs = max(1, min(len(la), len(lb)) - 1)
    level = stats.effect_level("cramers_v", dv, dof_star=dfs) if math.isfinite(dv) else 0
    msg = (f"The relation between {a} and {b} differs between this sample and the compare sample: Cramér's V "
           f"{v[0]:.2f} here vs {v[1]:.2f} there; {res['test']} G²={res['statistic']:.3g}, df={res['dof']}, "
           f"p={res['p_value']:.3g}" + ("" if res["valid"] else " (sparse table: approximate, not in the family)"))
    return Finding(
        id=f"selection:shift:{a}~{b}", bias_type=BiasType.SELECTION.value, detector="shift",
        kind="relation_shift", attributes={a: None, b: None}, message=msg, test=res["test"],
        statistic=res["statistic"], p_value=res["p_value"], p_min=res["p_min"], testable=res["valid"],
        in_family=bool(res["valid"]), effect_size=dv, effect_size_name="cramers_v_change", effect_level=level,
        n=int(round(cube.sum())), pattern=bool(math.isfinite(dv) and dv * math.sqrt(dfs) >= 0.1),
        hypothesis=hypothesis_key("shift-interaction", [a, b]),
        suggestion=(f"{a} and {b} go together differently in the two samples: a model that learns their relation "
                    f"on one will be wrong on the other; evaluate on groups of {a} x {b}."),
        details={"table": per.tolist(), "levels_a": la, "levels_b": lb, "cramers_v_sample": v[0],
                 "cramers_v_compare": v[1], "dof": res["dof"], "valid": res["valid"], "note": res["note"]})


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
    null = stats.two_sample_null_tvd(n1, n2, pooled)
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
