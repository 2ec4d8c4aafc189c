"""Selection bias: the sample against a reference population (STATISTICS.md §2.1-2.2).

For every attribute (or joint of attributes) the reference names (``ctx.options["reference"]``,
read and checked by :mod:`biasaudit.detectors._reference`):

* **Goodness of fit** of the observed counts O to Multinomial(n, p_ref), test chosen by §1.1
  (``stats.gof_test``: exact binomial for two values, Pearson X² when Cochran's rule holds, else the
  exact multinomial test, or its seeded Monte Carlo version when there are too many outcomes).
  Rows with a missing value are left out; rows whose value the reference does not list, or lists
  with share 0 (a structural zero), are "impossible under the reference" and reported separately.
* **Effect sizes**: TVD = ½ Σ|q_i - p_i|, Cohen's w = √(Σ (q_i - p_i)²/p_i), Jensen-Shannon
  divergence in bits, beside the TVD expected by chance at this n,
  E₀[TVD] ≈ ½ Σ √(2 p_i (1 - p_i)/(π n)); when E₀[TVD] ≥ 0.05 the TVD is "not estimable at this n"
  and its effect level is graded on max(0, TVD - E₀[TVD]) instead (an upward-biased TVD would
  otherwise grade noise as an effect).  The smallest Cohen's w the test could detect with 80 %
  power is reported too (non-central X², Cohen 1988 ch. 7).
* **Representation ratio** of every reference value (attributes with three or more values, and
  every joint cell): RR_g = q_g / p_g with the Clopper-Pearson interval of q_g divided by p_g, and
  ``binomtest(k_g, n, p_g)``.  A value the data lacks is a zero count with expected n p_g.
  For two-valued attributes the per-value test is the attribute's binomial test, so the ratios
  are reported in the attribute finding only.

Frequency weights count as rows; with non-integer weights no count test is possible and only
the impossible-value observation is reported.

Every p-value enters the scan's family (with its Tarone p_min); a representation ratio outside
[0.8, 1.25] is the descriptive pattern, graded only when the adjusted p is significant.

A joint reference that is the product of its margins assumes independent attributes; the
finding says so.  Rows are assumed i.i.d.; cluster or survey-weighted samples need Rao-Scott
corrections, which this detector does not make.
"""
from __future__ import annotations


import numpy as np

from .. import stats
from ..engine.context import AuditContext
from ..findings import BiasType, DetectorResult, Finding, hypothesis_key
from ._reference import ReferenceSpec, observed_cells, parse_reference

__all__ = ["selection", "reference_findings", "min_detectable_w", "RR_BAND"]

#: Representation ratios inside this band are not a pattern (symmetric four-fifths band).
RR_BAND = (0.8, 1.25)
#: E0[TVD] at or above this makes the TVD "not estimable at this n" (STATISTICS.md §1.4).
TVD_NOISE_LIMIT = 0.05


def selection(ctx: AuditContext) -> DetectorResult:
    """Findings of the sample-vs-reference comparison; nothing without a reference."""
    reference = (ctx.options or {}).get("reference")
    if reference is None:
        return DetectorResult((), {})
    specs = parse_reference(reference, ctx)
    out: list[Finding] = []
    summary = []
    for spec in specs:
        found = reference_findings(ctx, spec)
        out.extend(found)
        if found:
            d = found[0].details
            summary.append({"attribute": spec.key, "n": found[0].n, "test": found[0].test,
                            "p_value": found[0].p_value, "tvd": d.get("tvd"), "cohens_w": d.get("cohens_w"),
                            "notes": list(spec.notes)})
    return DetectorResult(out, {"reference": summary})


def min_detectable_w(n: int, k: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest Cohen's w a goodness-of-fit test on k cells detects (:func:`biasaudit.stats.min_detectable_w`)."""
    return stats.min_detectable_w(n, k, alpha, power)


def _fmt_share(x: float) -> str:
    return f"{100 * x:.0f}%" if x >= 0.1 or x == 0 else f"{100 * x:.2g}%"


def _effect(tvd: float, null: float) -> tuple[int, bool]:
    """Effect level of a TVD and whether it is estimable at this n."""
    estimable = null < TVD_NOISE_LIMIT
    graded = tvd if estimable else max(0.0, tvd - null)
    return stats.effect_level("tvd", graded), estimable


def reference_findings(ctx: AuditContext, spec: ReferenceSpec) -> list[Finding]:
    """The attribute-level finding, one per reference value (k >= 3 or joint), and unexpected values."""
    s = ctx.settings
    alpha = s.alpha
    counts, n_missing = observed_cells(ctx, spec)
    ref = dict(zip(spec.values, spec.shares))
    key = spec.key
    attrs = {a: None for a in spec.attributes}
    # rows impossible under the reference: values it does not list, or lists with share 0
    impossible = {v: c for v, c in counts.items() if ref.get(v, 0.0) == 0.0}
    tested = [v for v in spec.values if ref[v] > 0]
    obs = np.array([counts.get(v, 0) for v in tested])
    p = np.array([ref[v] for v in tested])
    p = p / p.sum()
    n = obs.sum()
    n_int = int(round(float(n)))
    weighted = not np.allclose(obs, np.round(obs))       # fractional weights: no exact count test
    out: list[Finding] = []
    if impossible:
        out.append(_impossible_finding(spec, impossible, n + sum(impossible.values())))
    if n <= 0 or len(tested) < 2 or weighted:
        return out
    obs_i = np.round(obs).astype(np.int64)
    res = stats.gof_test(obs_i, p, rng=ctx.rng(11), method="auto")
    q = obs / n
    tvd = stats.tvd(q, p)
    w = stats.cohens_w(q, p)
    jsd = stats.jsd_bits(q, p)
    null = stats.null_tvd(p, n_int)
    level, estimable = _effect(tvd, null)
    w_min = min_detectable_w(n_int, len(tested), alpha)
    rows = []
    for v, k_g, p_g in zip(tested, obs_i, p):
        lo, hi = stats.clopper_pearson_ci(int(k_g), n_int, alpha)
        share_g = float(k_g / n_int)
        rows.append({"value": spec.label(v), "n": int(k_g), "share": share_g, "reference": float(p_g),
                     "expected": float(n_int * p_g), "rr": share_g / float(p_g), "ci_low": float(lo / p_g),
                     "ci_high": float(hi / p_g),
                     "p_value": stats.binomial_p(int(k_g), n_int, float(p_g))})
    low = min(rows, key=lambda r: (r["rr"], -r["expected"]))
    absent = [r for r in rows if r["n"] == 0]
    pattern = bool(tvd >= TVD_NOISE_LIMIT and tvd > null)
    what = f"the joint distribution of {', '.join(spec.attributes)}" if spec.joint else f"{key}"
    noise = (f"chance alone gives about {null:.2f} at n={n_int}" + ("" if estimable else
             ", so the effect is not estimable at this n"))
    msg = (f"In the sample, {what} differs from the reference by TVD {tvd:.3f} ({noise}); Cohen's w {w:.2f}; "
           f"most under-represented {low['value']}: {_fmt_share(low['share'])} vs "
           f"{_fmt_share(low['reference'])} (RR {low['rr']:.2f} [{low['ci_low']:.2f}, {low['ci_high']:.2f}])"
           + (f"; {len(absent)} reference value(s) absent, e.g. {absent[0]['value']} (expected "
              f"{absent[0]['expected']:.3g} rows)" if absent else "")
           + f"; {res.test} p={res.p_value:.3g}"
           + (f"; {_left_out(n_missing, impossible)} left out" if n_missing or impossible else "")
           + ("; the joint reference is the product of its margins, so it assumes "
              f"{' and '.join(spec.attributes)} are independent in the population" if spec.product_of_margins else ""))
    if not estimable and not pattern:
        msg += f"; at n={n_int} only a distortion of Cohen's w >= {w_min:.2f} would be detected reliably"
    notes = list(spec.notes)
    if n_missing:
        notes.append(f"{n_missing:g} row(s) with a missing value left out")
    if res.note:
        notes.append(res.note)
    suggestion = (f"Re-weight rows by reference share / sample share (post-stratification on {key}), or collect "
                  f"more rows of the under-represented values such as {low['value']}.")
    out.insert(0, Finding(
        id=f"selection:reference:{key}", bias_type=BiasType.SELECTION.value, detector="selection",
        kind="representation", attributes=attrs, message=msg, test=res.test, statistic=res.statistic,
        p_value=res.p_value, p_min=res.p_min, testable=res.p_min <= alpha, in_family=True,
        effect_size=tvd, effect_size_name="tvd", effect_level=level, n=n_int, pattern=pattern,
        evidence=tuple(rows), suggestion=suggestion, hypothesis=hypothesis_key("reference-gof", spec.attributes),
        details={"tvd": tvd, "null_tvd": null, "tvd_estimable": estimable, "cohens_w": w, "jsd_bits": jsd,
                 "min_detectable_w": w_min, "dof": res.dof, "valid": res.valid, "notes": notes,
                 "n_missing": n_missing, "impossible_rows": float(sum(impossible.values())),
                 "absent_values": [r["value"] for r in absent], "joint": spec.joint,
                 "product_of_margins": spec.product_of_margins}))
    if len(tested) >= 3:
        for r, v in zip(rows, tested):
            out.append(_group_finding(spec, v, r, n_int, alpha))
    return out


def _left_out(n_missing: float, impossible: dict) -> str:
    parts = []
    if n_missing:
        parts.append(f"{n_missing:g} row(s) with a missing value")
    if impossible:
        parts.append(f"{sum(impossible.values()):g} row(s) impossible under the reference")
    return " and ".join(parts)


def _group_finding(spec: ReferenceSpec, v: tuple, r: dict, n: int, alpha: float) -> Finding:
    p_g, k = r["reference"], r["n"]
    rr = r["rr"]
    p_min = stats.binomial_pmin(n, p_g)
    outside = not (RR_BAND[0] <= rr <= RR_BAND[1])
    informative = r["expected"] >= 0.5 and max(k, r["expected"]) >= 2
    cell = spec.label(v)
    attributes = dict(zip(spec.attributes, v))
    if k == 0:
        msg = (f"No row has {_cell_text(attributes)} although the reference gives it "
               f"{_fmt_share(p_g)} (expected {r['expected']:.3g} of {n}; RR 0, upper bound "
               f"{r['ci_high']:.2f}; binomial p={r['p_value']:.3g})")
    else:
        more = "over" if rr > 1 else "under"
        msg = (f"{_cell_text(attributes)} is {more}-represented: {k} of {n} rows ({_fmt_share(r['share'])}) vs "
               f"{_fmt_share(p_g)} in the reference (expected {r['expected']:.3g}; RR {rr:.2f} "
               f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]; binomial p={r['p_value']:.3g})")
    sugg = (f"Collect more rows with {_cell_text(attributes)}, or re-weight them by {1 / rr:.2f}."
            if 0 < rr < 1 else
            f"Collect rows with {_cell_text(attributes)}: the sample has none." if rr == 0 else
            f"Check why {_cell_text(attributes)} is over-sampled; re-weight it by {1 / rr:.2f}.")
    return Finding(
        id=f"selection:reference:{spec.key}={cell}", bias_type=BiasType.SELECTION.value, detector="selection",
        kind="representation", attributes=attributes, message=msg, test="exact binomial", statistic=float(k),
        p_value=r["p_value"], p_min=p_min, testable=p_min <= alpha, in_family=True, effect_size=rr,
        effect_size_name="representation_ratio", effect_level=stats.effect_level("representation_ratio", rr),
        ci_low=r["ci_low"], ci_high=r["ci_high"], n=n, observed=float(k), expected=r["expected"],
        pattern=bool(outside and informative), evidence=(dict(r),), suggestion=sugg,
        hypothesis=hypothesis_key("reference-binomial", spec.attributes, attributes),
        details={"reference_share": p_g, "sample_share": r["share"], "joint": spec.joint})


def _cell_text(attributes: dict) -> str:
    return " and ".join(f"{a}={v}" for a, v in attributes.items())


def _impossible_finding(spec: ReferenceSpec, impossible: dict, n_all: float) -> Finding:
    total = sum(impossible.values())
    listed = sorted(impossible.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{spec.label(v)} ({c:g})" for v, c in listed[:6]) + (" ..." if len(listed) > 6 else "")
    msg = (f"{total:g} row(s) have {spec.key} values that are impossible under the reference (absent from it "
           f"or given share 0): {shown}; they were left out of the comparison")
    return Finding(
        id=f"selection:reference:{spec.key}:impossible", bias_type=BiasType.SELECTION.value, detector="selection",
        kind="representation", attributes={a: None for a in spec.attributes}, message=msg, n=int(round(n_all)),
        observed=float(total), expected=0.0, in_family=False, testable=False, pattern=True, severity="info",
        evidence=tuple({"value": spec.label(v), "n": c} for v, c in listed),
        suggestion=("Check that the reference and the data use the same coding; if the reference is right, "
                    "these rows come from outside the population it describes."),
        details={"impossible_rows": float(total)})
