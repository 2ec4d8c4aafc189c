"""Conditional group attribution: does a group's label rate differ once another attribute is held fixed?

For every sensitive attribute A and every stratifier B (an audited attribute other than A, not
derived from the same column, not a function of A and A not a function of B), the
counts of A x B x label come from one count table (``ctx.label_table(A, B)``); the outcome is
the positive label against the rest (STATISTICS.md §4.3).

* ``kind="conditional"`` (one per (A, B), in the family): the association of A with the label
  within the strata of B.  For a two-level A this is the Cochran-Mantel-Haenszel test of the
  2 x 2 x K table (``stats.cmh_test``: OR_MH, X^2_MH without continuity correction,
  Breslow-Day, and the exact conditional test when the Mantel-Fleiss criterion fails).  For
  more levels it is the generalised CMH test of general association (r x 2 x K, df = r - 1),
  exact or Monte Carlo when the per-level Mantel-Fleiss criterion fails.  Effect size: the
  Mantel-Haenszel risk difference, graded on the |SPD| scale.
* ``kind="simpson"``: for every exposure A=v against the rest (A with at most
  ``MAX_EXPOSURE_LEVELS`` levels) a strong reversal (every informative stratum's risk difference
  has the sign opposite to the marginal one) or a weak reversal (log OR_MH and log OR_marg of
  opposite sign).  It enters the family (with the exposure's stratified test) only when that
  test's raw p is <= alpha; otherwise it is a *descriptive Simpson reversal* (severity info).
  For a two-level A a supported reversal replaces the (A, B) conditional finding (same test).

A conditional finding whose direction is that of the marginal A x label association is a view of
that association: it stays in the family but is folded into the group-attribution finding
(``explained_by="group_attribution:A:label=<label>"``).  Sign changes, reversals and masked
associations (raw p <= alpha only within strata) stay on their own.  With no sensitive
attribute named, more than ``MAX_PAIRS_UNNAMED`` pairs are not computed (the section says so).
"""
from __future__ import annotations

import math

import numpy as np

from .. import stats
from ..engine.context import AuditContext
from ..findings import BiasType, DetectorResult, Finding, hypothesis_key
from ..stats import general_cmh, mh_risk_difference  # noqa: F401  (re-exported: they moved to stats/)

__all__ = ["conditional", "general_cmh", "simpson_check", "mh_risk_difference", "MAX_EXPOSURE_LEVELS"]

#: Attributes with more levels get no level-vs-rest (Simpson) checks, only the general test.
MAX_EXPOSURE_LEVELS = 6
#: With no sensitive attribute named, more (attribute | stratifier) pairs than this are not computed.
MAX_PAIRS_UNNAMED = 60
#: |log OR| below this (odds ratios within [1/1.05, 1.05]) has no direction for the weak-reversal rule.
OR_BAND = math.log(1.05)


# ----------------------------------------------------------------------------- statistics
def _odds_ratio(t: np.ndarray) -> float:
    """Sample odds ratio, Haldane's +0.5 when a cell is zero."""
    t = np.asarray(t, dtype=float)
    if (t == 0).any():
        t = t + 0.5
    return float(t[0, 0] * t[1, 1] / (t[0, 1] * t[1, 0]))


def _rd(t: np.ndarray) -> float:
    t = np.asarray(t, dtype=float)
    return float(t[0, 0] / t[0].sum() - t[1, 0] / t[1].sum())


def simpson_check(strata: np.ndarray, odds_ratio_mh: float) -> dict:
    """Marginal vs stratified direction of an exposure's association (§4.3).

    Parameters
    ----------
    strata : array of shape (K, 2, 2)
        Rows exposure (A=v, rest), columns outcome (positive, other).
    odds_ratio_mh : float
        The Mantel-Haenszel odds ratio of the informative strata.

    Returns
    -------
    dict
        ``rd_marginal``, ``or_marginal`` (Haldane if a zero), ``rd_strata`` (informative strata),
        ``strong`` (every stratum RD opposite to a non-zero marginal RD), ``weak`` (log OR_MH
        and log OR_marg of opposite sign, both outside the band ``OR_BAND`` = log 1.05, so that
        odds ratios of about 1 do not count as a direction).
    """
    strata = np.asarray(strata)
    marginal = strata.sum(axis=0)
    informative = [k for k, t in enumerate(strata) if (t.sum(axis=0) > 0).all() and (t.sum(axis=1) > 0).all()]
    out = {"rd_marginal": math.nan, "or_marginal": math.nan, "rd_strata": {}, "strong": False, "weak": False}
    if not (marginal.sum(axis=1) > 0).all() or not informative:
        return out
    rd_m, or_m = _rd(marginal), _odds_ratio(marginal)
    rds = {k: _rd(strata[k]) for k in informative}
    sign = np.sign(rd_m)
    out.update(rd_marginal=rd_m, or_marginal=or_m, rd_strata=rds)
    out["strong"] = bool(sign != 0 and all(np.sign(v) == -sign for v in rds.values()))
    if math.isfinite(or_m) and odds_ratio_mh is not None and not math.isnan(odds_ratio_mh) and or_m > 0:
        l_mh = (math.copysign(math.inf, odds_ratio_mh - 1) if odds_ratio_mh in (0.0, math.inf)
                else math.log(odds_ratio_mh))
        l_m = math.log(or_m)
        out["weak"] = bool(l_mh * l_m < 0 and min(abs(l_mh), abs(l_m)) >= OR_BAND)
    return out


# ----------------------------------------------------------------------------- detector
def conditional(ctx: AuditContext) -> DetectorResult:
    """Conditional (CMH) and Simpson findings for every (sensitive A, stratifier B); see the module docstring."""
    roles = ctx.roles
    pos = ctx.label_index(roles.positive)
    stratifiers = [b for b in roles.attributes if roles.parent(b) == b]
    pairs = [(a, b) for a in roles.sensitive for b in stratifiers if roles.parent(b) != roles.parent(a)]
    named = any(b not in roles.sensitive for b in stratifiers)
    findings: list[Finding] = []
    tested, skipped, reversals, text = [], [], [], []
    if not named and len(pairs) > MAX_PAIRS_UNNAMED:
        text.append(f"Conditional associations not computed: with no sensitive attribute named, {len(pairs)} "
                    f"(attribute | stratifier) pairs (more than {MAX_PAIRS_UNNAMED}); name the sensitive "
                    f"attributes to stratify their label rates.")
        skipped.append({"reason": f"{len(pairs)} pairs > {MAX_PAIRS_UNNAMED}"})
        pairs = []
    marginal_p: dict = {}
    for a, b in pairs:
        ct = ctx.label_table(a, b).counts
        c = np.stack([ct[:, :, pos], ct.sum(axis=2) - ct[:, :, pos]], axis=-1)
        if not np.allclose(c, np.round(c)):
            skipped.append({"attribute": a, "stratifier": b, "reason": "non-integer weights"})
            continue
        c = np.round(c).astype(np.int64)
        ia = np.flatnonzero(c.sum(axis=(1, 2)) > 0)
        ib = np.flatnonzero(c.sum(axis=(0, 2)) > 0)
        c = c[np.ix_(ia, ib)]
        if len(ia) < 2 or len(ib) < 2:
            continue
        ab = c.sum(axis=2) > 0
        if (ab.sum(axis=1) == 1).all() or (ab.sum(axis=0) == 1).all():
            skipped.append({"attribute": a, "stratifier": b, "reason": "functionally dependent"})
            continue
        if a not in marginal_p:
            marginal_p[a] = stats.independence_test(c.sum(axis=1), alpha=ctx.settings.alpha,
                                                    rng=ctx.settings.random_state,
                                                    exact_2x2=ctx.settings.exact_2x2).p_value
        levels_a = [ctx.table.levels[a][i] for i in ia]
        levels_b = [ctx.table.levels[b][j] for j in ib]
        found, info = _pair(ctx, a, b, c, levels_a, levels_b, marginal_p[a])
        findings.extend(found)
        tested.append(info)
        reversals.extend(f.id for f in found if f.kind == "simpson")
    text.insert(0, f"Conditional associations: {len(tested)} (attribute | stratifier) pair(s) tested with "
                   f"Cochran-Mantel-Haenszel tests; {len(reversals)} Simpson reversal(s).")
    if any("stratifier" in s_ for s_ in skipped):
        text.append("Not stratified: " + "; ".join(f"{s_['attribute']} | {s_['stratifier']} ({s_['reason']})"
                                                   for s_ in skipped if "stratifier" in s_) + ".")
    section = {"title": "Conditional association and Simpson's paradox", "text": text,
               "pairs": tested, "skipped": skipped, "reversals": reversals}
    return DetectorResult(findings, section)


def _mh_statistics(c: np.ndarray) -> np.ndarray:
    """X^2_MH (no continuity correction) of every level against the rest, vectorised over levels."""
    n_k = c.sum(axis=(0, 2)).astype(float)            # rows per stratum
    m_k = c[:, :, 0].sum(axis=0).astype(float)        # positives per stratum
    r_vk = c.sum(axis=2).astype(float)                # rows of level v in stratum k
    ok = n_k > 1
    e = r_vk * m_k / np.where(ok, n_k, 1)
    var = r_vk * (n_k - r_vk) * m_k * (n_k - m_k) / np.where(ok, n_k ** 2 * (n_k - 1), 1)
    d = ((c[:, :, 0] - e) * ok).sum(axis=1)
    v = (var * ok).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v > 0, d ** 2 / v, np.nan)


def _exposure_strata(c: np.ndarray, v: int) -> np.ndarray:
    """(K, 2, 2): rows (A=v, rest), columns (positive, other), one table per stratum."""
    rest = np.delete(c, v, axis=0).sum(axis=0)
    return np.stack([c[v], rest], axis=1)


def _pair(ctx, a, b, c, levels_a, levels_b, marginal_p) -> tuple[list[Finding], dict]:
    s = ctx.settings
    r = c.shape[0]
    n_total = int(c.sum())
    marg = c.sum(axis=1)  # (r, 2)
    rates = marg[:, 0] / marg.sum(axis=1)
    exposures = []
    for v in range(r):
        strata = _exposure_strata(c, v)
        exposures.append({"v": v, "strata": strata, "rd_mh": mh_risk_difference(strata),
                          "rd_marginal": _rd(strata.sum(axis=0))})
    if r == 2:
        v0 = min(range(2), key=lambda i: (rates[i], -marg[i].sum()))
        checked = [exposures[v0]]
    else:
        checked = exposures if r <= MAX_EXPOSURE_LEVELS else []
    out: list[Finding] = []
    for e in checked:
        e["cmh"] = stats.cmh_test(e["strata"])
        e["simpson"] = simpson_check(e["strata"], e["cmh"].odds_ratio)
        sim = e["simpson"]
        if sim["strong"] or sim["weak"]:
            out.append(_simpson_finding(ctx, a, b, levels_a[e["v"]], levels_b, e))
    out = [f.evolve(hypothesis=_cmh_key(ctx, a, b, levels_a, f.details["exposure"])) for f in out]
    replaced = r == 2 and out and out[0].in_family
    if r == 2:
        e = checked[0]
        res = e["cmh"]
        test = {"test": res.test, "statistic": res.statistic, "dof": 1, "p_value": res.p_value, "p_min": res.p_min,
                "mantel_fleiss": res.mantel_fleiss, "n_strata": res.n_strata, "note": res.note}
        main = e
    else:
        test = general_cmh(c.transpose(1, 0, 2), rng=s.random_state)
        x2 = _mh_statistics(c)
        main = exposures[int(np.argmax(np.nan_to_num(x2, nan=-1.0)))]
    info = {"attribute": a, "stratifier": b, "test": test["test"], "statistic": test["statistic"],
            "dof": test["dof"], "p_value": test["p_value"], "p_min": test["p_min"],
            "mantel_fleiss": test["mantel_fleiss"], "n_strata": test["n_strata"]}
    if replaced:
        return out, info
    f = _conditional_finding(ctx, a, b, levels_a, levels_b, main, exposures, test, n_total, r)
    f = f.evolve(hypothesis=_cmh_key(ctx, a, b, levels_a, levels_a[main["v"]] if r == 2 else None))
    masked = marginal_p > s.alpha and test["p_min"] <= s.alpha and test["p_value"] <= s.alpha
    if not masked and main["rd_marginal"] * (main["rd_mh"] if math.isfinite(main["rd_mh"]) else 0) > 0:
        # the direction of the marginal association: a view of that finding, folded into it
        f = f.evolve(explained_by=f"group_attribution:{a}:label={ctx.roles.label}")
    out.insert(0, f)
    return out, info


def _cmh_key(ctx, a, b, levels_a, exposure) -> str:
    """Key of the stratified null tested: A=v vs rest given B (for a two-level A, both levels' tests are one
    test, keyed by the first level in sorted order), or general association of A given B."""
    cell = None
    if exposure is not None:
        cell = {a: sorted(levels_a)[0] if len(levels_a) == 2 else exposure}
    return hypothesis_key("cmh", [a, b, ctx.roles.label], cell)


def _change(rd_marg: float, rd_mh: float) -> str:
    lm, lc = stats.effect_level("spd", rd_marg), stats.effect_level("spd", rd_mh)
    if not (math.isfinite(rd_marg) and math.isfinite(rd_mh)):
        return "cannot be compared"
    if rd_marg * rd_mh < 0:
        return "changes sign" + (" and largely disappears" if lc == 0 else "")
    if lm >= 1 and lc == 0:
        return "largely disappears"
    if abs(rd_marg) > 0 and abs(rd_mh) < 0.5 * abs(rd_marg):
        return "shrinks by more than half"
    if abs(rd_mh) > 1.5 * abs(rd_marg) and lc >= 1:
        return "grows"
    return "persists"


def _conditional_finding(ctx, a, b, levels_a, levels_b, main, exposures, test, n_total, r) -> Finding:
    s = ctx.settings
    label, positive = ctx.roles.label, ctx.roles.positive
    va = levels_a[main["v"]]
    rd_mh, rd_m = main["rd_mh"], main["rd_marginal"]
    change = _change(rd_m, rd_mh)
    level = stats.effect_level("spd", rd_mh) if math.isfinite(rd_mh) else 0
    dof = f", df={test['dof']}" if r > 2 else ""
    largest = "" if r == 2 else "largest "
    msg = (f"Holding {b} fixed, the {label}={positive} rate difference of {a}={va} against the rest {change}: "
           f"{largest}Mantel-Haenszel difference {rd_mh:+.2f} vs {rd_m:+.2f} unstratified "
           f"({test['n_strata']} informative {b} {'stratum' if test['n_strata'] == 1 else 'strata'}; "
           f"{test['test']} statistic {test['statistic']:.3g}{dof}, "
           f"p={test['p_value']:.3g})")
    if change not in ("persists", "grows", "cannot be compared"):
        sug = (f"Much of the {a} difference in {label} goes with {b}: compare {a} groups within {b} levels "
               f"and check how {b} differs between the groups.")
    else:
        sug = (f"The {a} difference in {label} is not explained by {b}: audit how {label} was assigned for "
               f"{a}={va}, and report rates per {b} level.")
    evidence = tuple({"group": levels_a[x["v"]], "rd_marginal": x["rd_marginal"], "rd_mh": x["rd_mh"],
                      **({"odds_ratio_mh": x["cmh"].odds_ratio, "p_value": x["cmh"].p_value} if "cmh" in x else {})}
                     for x in exposures)
    details = {"stratifier": b, "exposure": va, "dof": test["dof"], "mantel_fleiss": test["mantel_fleiss"],
               "n_strata": test["n_strata"], "note": test["note"], "rd_marginal": rd_m, "rd_mh": rd_mh,
               "strata_levels": levels_b, "table": np.asarray(main["strata"]).tolist()}
    if "cmh" in main:
        res = main["cmh"]
        details.update(odds_ratio_mh=res.odds_ratio, odds_ratio_marginal=main["simpson"]["or_marginal"],
                       cmh_p=res.cmh_p, exact_p=res.exact_p, breslow_day_p=res.breslow_day_p)
    return Finding(
        id=f"conditional:{a}|{b}:label={positive}", bias_type=BiasType.GROUP_ATTRIBUTION.value,
        detector="conditional", kind="conditional", attributes={a: None if r > 2 else va, b: None},
        label_value=positive, message=msg, test=test["test"], statistic=test["statistic"],
        p_value=test["p_value"], p_min=test["p_min"], testable=test["p_min"] <= s.alpha, in_family=True,
        effect_size=rd_mh if math.isfinite(rd_mh) else None, effect_size_name="mh_risk_difference",
        effect_level=level, n=n_total, pattern=level >= 1, evidence=evidence, suggestion=sug, details=details)


def _simpson_finding(ctx, a, b, va, levels_b, e) -> Finding:
    s = ctx.settings
    label, positive = ctx.roles.label, ctx.roles.positive
    res, sim = e["cmh"], e["simpson"]
    rd_m, or_m = sim["rd_marginal"], sim["or_marginal"]
    supported = res.p_min <= s.alpha and res.p_value <= s.alpha
    hl = "higher" if rd_m > 0 else "lower"
    rev = "lower" if rd_m > 0 else "higher"
    if sim["strong"]:
        rds = list(sim["rd_strata"].values())
        how = (f"but a {rev} one in every informative {b} stratum (differences {min(rds):+.2f} to {max(rds):+.2f}; "
               f"OR_MH {res.odds_ratio:.3g} vs {or_m:.3g} unstratified)")
    else:
        how = (f"but the {b}-stratified Mantel-Haenszel odds ratio points the other way "
               f"(OR_MH {res.odds_ratio:.3g} vs {or_m:.3g} unstratified)")
    head = "Simpson reversal" if supported else "Descriptive Simpson reversal"
    msg = (f"{head}: {a}={va} has a {hl} {label}={positive} rate than the rest overall ({rd_m:+.2f}) {how}; "
           f"{res.test} p={res.p_value:.3g}")
    if not supported:
        msg += f", not statistically supported at alpha={s.alpha:g}"
    level = stats.effect_level("spd", e["rd_mh"]) if math.isfinite(e["rd_mh"]) else 0
    evidence = tuple({b: levels_b[k], "table": e["strata"][k].tolist(), "rd": v}
                     for k, v in sim["rd_strata"].items())
    return Finding(
        id=f"simpson:{a}={va}|{b}:label={positive}", bias_type=BiasType.GROUP_ATTRIBUTION.value,
        detector="conditional", kind="simpson", attributes={a: va, b: None}, label_value=positive,
        message=msg, test=res.test, statistic=res.statistic, p_value=res.p_value, p_min=res.p_min,
        testable=res.p_min <= s.alpha, in_family=supported,
        effect_size=e["rd_mh"] if math.isfinite(e["rd_mh"]) else None, effect_size_name="mh_risk_difference",
        effect_level=level, n=int(e["strata"].sum()), pattern=True,
        severity="info", evidence=evidence,
        suggestion=(f"Do not compare {a} groups without holding {b} fixed: the overall difference points the "
                    f"other way from the within-{b} one; report {label} rates of {a} per {b} level."),
        details={"stratifier": b, "exposure": va, "strong_reversal": sim["strong"], "weak_reversal": sim["weak"],
                 "rd_marginal": rd_m, "or_marginal": or_m, "rd_mh": e["rd_mh"], "odds_ratio_mh": res.odds_ratio,
                 "cmh_statistic": res.statistic, "cmh_p": res.cmh_p, "exact_p": res.exact_p,
                 "breslow_day_p": res.breslow_day_p, "mantel_fleiss": res.mantel_fleiss,
                 "strata_levels": levels_b, "table": e["strata"].tolist(), "descriptive": not supported})
