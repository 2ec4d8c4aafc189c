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
from ..findings import BiasType, Finding

__all__ = ["conditional", "general_cmh", "simpson_check", "mh_risk_difference", "MAX_EXPOSURE_LEVELS"]

#: Attributes with more levels get no level-vs-rest (Simpson) checks, only the general test.
MAX_EXPOSURE_LEVELS = 6
#: With no sensitive attribute named, more (attribute | stratifier) pairs than this are not computed.
MAX_PAIRS_UNNAMED = 60
#: Largest support of the exact generalised CMH distribution before Monte Carlo is used.
MAX_EXACT_SUPPORT = 200_000
#: Monte Carlo draws of the generalised CMH test when it is neither asymptotic nor enumerable.
MC_DRAWS = 9_999
#: |log OR| below this (odds ratios within [1/1.05, 1.05]) has no direction for the weak-reversal rule.
OR_BAND = math.log(1.05)
_TOL = 1e-7


# ----------------------------------------------------------------------------- statistics
def mh_risk_difference(strata: np.ndarray) -> float:
    r"""Mantel-Haenszel risk difference of K 2 x 2 tables (rows exposure, columns outcome).

    .. math:: RD_{MH} = \frac{\sum_k (a_k n_{0k} - c_k n_{1k}) / N_k}{\sum_k n_{1k} n_{0k} / N_k}

    Strata with an empty row carry no information and are skipped.  NaN when none is left.

    References
    ----------
    Greenland, S. & Robins, J. M. (1985). Estimation of a common effect parameter from sparse
    follow-up data. Biometrics 41, 55-68.
    """
    num = den = 0.0
    for (a, b), (c, d) in np.asarray(strata, dtype=float):
        n1, n0 = a + b, c + d
        if n1 == 0 or n0 == 0:
            continue
        num += (a * n0 - c * n1) / (n1 + n0)
        den += n1 * n0 / (n1 + n0)
    return float(num / den) if den > 0 else math.nan


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


def _enumerate(n: np.ndarray, m: int) -> np.ndarray:
    """All integer vectors x (rows) with sum m and 0 <= x_i <= n_i."""
    vecs, rem = np.zeros((1, 0), dtype=np.int64), np.array([m])
    for i, cap in enumerate(n):
        rest = int(n[i + 1:].sum())
        x = np.arange(int(cap) + 1)
        r = rem[:, None] - x[None, :]
        ok = (r >= 0) & (r <= rest)
        src, xs = np.nonzero(ok)
        vecs = np.column_stack([vecs[src], x[xs]])
        rem = r[src, xs]
    return vecs


def _log_mvhyper(x: np.ndarray, n: np.ndarray, m: int) -> np.ndarray:
    from scipy.special import gammaln

    def lc(a, b):
        return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)
    return lc(n, x).sum(axis=1) - lc(n.sum(), m)


def general_cmh(tables, *, rng=0) -> dict:
    r"""Generalised Cochran-Mantel-Haenszel test of general association for K r x 2 tables.

    Rows are the r levels of A, columns (positive, other).  Per stratum with totals
    :math:`n_{ik}`, :math:`m_k` positives and :math:`N_k` rows, the positive counts
    :math:`x_k` are multivariate hypergeometric under conditional independence:

    .. math::
        E x_k = n_k m_k / N_k, \qquad
        V_k = \frac{m_k (N_k - m_k)}{N_k^2 (N_k - 1)} \bigl(N_k \operatorname{diag}(n_k) - n_k n_k^\top\bigr),
        \qquad Q = d^\top \Bigl(\sum_k V_k\Bigr)^{+} d,\quad d = \sum_k (x_k - E x_k),

    asymptotically :math:`\chi^2_{r-1}`.  For r = 2 it is the CMH X^2 without continuity
    correction; for K = 1 it is :math:`(N-1)/N` times Pearson's X^2.  The asymptotic p is used
    when the Mantel-Fleiss criterion holds for every level (min over i of
    :math:`\min(\sum_k E x_{ik} - \sum_k lo_{ik},\ \sum_k hi_{ik} - \sum_k E x_{ik}) \ge 5`); otherwise the
    exact conditional distribution of :math:`\sum_k x_k` (convolution of multivariate
    hypergeometrics, ordered by Q) is enumerated, or, when its support exceeds
    ``MAX_EXACT_SUPPORT``, simulated with ``MC_DRAWS`` seeded draws.

    Returns
    -------
    dict
        test, statistic, dof, p_value, p_min, mantel_fleiss, n_strata, note.

    References
    ----------
    Landis, J. R., Heyman, E. R. & Koch, G. G. (1978). Average partial association in three-way
    contingency tables. International Statistical Review 46, 237-254.
    Agresti, A. (2013). Categorical Data Analysis, 3rd ed., §6.4.
    """
    t = np.asarray(tables, dtype=np.int64)
    keep = [k for k in range(t.shape[0]) if (t[k].sum(axis=0) > 0).all() and (t[k].sum(axis=1) > 0).sum() >= 2]
    t = t[keep]
    if len(t) == 0:
        return {"test": "not testable (no informative stratum)", "statistic": math.nan, "dof": None,
                "p_value": 1.0, "p_min": 1.0, "mantel_fleiss": math.nan, "n_strata": 0, "note": ""}
    x = t[:, :, 0].astype(float)
    n = t.sum(axis=2).astype(float)
    m = x.sum(axis=1)
    big_n = n.sum(axis=1)
    e = n * (m / big_n)[:, None]
    v = np.zeros((t.shape[1], t.shape[1]))
    for k in range(len(t)):
        c = m[k] * (big_n[k] - m[k]) / (big_n[k] ** 2 * (big_n[k] - 1))
        v += c * (big_n[k] * np.diag(n[k]) - np.outer(n[k], n[k]))
    vinv = np.linalg.pinv(v)
    dof = int(np.linalg.matrix_rank(v))
    e_tot = e.sum(axis=0)

    def q_of(s):
        d = s - e_tot
        return np.einsum("...i,ij,...j->...", d, vinv, d)
    q_obs = float(q_of(x.sum(axis=0)))
    lo = np.maximum(0, m[:, None] - (big_n[:, None] - n)).sum(axis=0)
    hi = np.minimum(n, m[:, None]).sum(axis=0)
    mf = float(np.min(np.minimum(e_tot - lo, hi - e_tot)[n.sum(axis=0) > 0]))
    out = {"statistic": q_obs, "dof": dof, "mantel_fleiss": mf, "n_strata": len(t)}
    if mf >= 5:
        from scipy.stats import chi2
        return {**out, "test": "generalised CMH chi-square", "p_value": float(chi2.sf(q_obs, dof)),
                "p_min": 0.0, "note": f"Mantel-Fleiss criterion {mf:.3g} >= 5"}
    # exact: convolve the per-stratum multivariate hypergeometric distributions of x_k
    support, logp = np.zeros((1, t.shape[1]), dtype=np.int64), np.zeros(1)
    for k in range(len(t)):
        nk, mk = t[k].sum(axis=1), int(t[k, :, 0].sum())
        if len(support) * stats.count_2xk_tables([mk, int(nk.sum()) - mk], nk) > MAX_EXACT_SUPPORT:
            return {**out, **_mc(t, q_of, q_obs, rng), "note": f"Mantel-Fleiss criterion {mf:.3g} < 5; "
                    f"{MC_DRAWS} Monte Carlo draws of the conditional distribution"}
        vk = _enumerate(nk, mk)
        lk = _log_mvhyper(vk, nk, mk)
        s = (support[:, None, :] + vk[None, :, :]).reshape(-1, t.shape[1])
        lp = (logp[:, None] + lk[None, :]).reshape(-1)
        support, inv = np.unique(s, axis=0, return_inverse=True)
        logp = np.log(np.bincount(inv.ravel(), weights=np.exp(lp - lp.max()))) + lp.max()
    prob = np.exp(logp - logp.max())
    prob /= prob.sum()
    q_all = q_of(support.astype(float))
    p = float(prob[q_all >= q_obs * (1 - _TOL) - 1e-12].sum())
    p_min = float(prob[q_all >= q_all.max() * (1 - _TOL) - 1e-12].sum())
    return {**out, "test": "exact generalised CMH (conditional)", "p_value": min(1.0, p),
            "p_min": min(1.0, p_min), "note": f"Mantel-Fleiss criterion {mf:.3g} < 5; "
            f"{len(support)} values of the stratified sum enumerated"}


def _mc(t: np.ndarray, q_of, q_obs: float, rng) -> dict:
    gen = np.random.default_rng(rng)
    total = np.zeros((MC_DRAWS, t.shape[1]))
    for k in range(len(t)):
        total += gen.multivariate_hypergeometric(t[k].sum(axis=1), int(t[k, :, 0].sum()), size=MC_DRAWS)
    q = q_of(total)
    p = (1 + int(np.sum(q >= q_obs * (1 - _TOL) - 1e-12))) / (MC_DRAWS + 1)
    return {"test": "Monte Carlo generalised CMH (conditional)", "p_value": p, "p_min": 1 / (MC_DRAWS + 1)}


# ----------------------------------------------------------------------------- detector
def conditional(ctx: AuditContext) -> tuple[list[Finding], dict]:
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
    return findings, section


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
    masked = marginal_p > s.alpha and test["p_min"] <= s.alpha and test["p_value"] <= s.alpha
    if not masked and main["rd_marginal"] * (main["rd_mh"] if math.isfinite(main["rd_mh"]) else 0) > 0:
        # the direction of the marginal association: a view of that finding, folded into it
        f = f.evolve(explained_by=f"group_attribution:{a}:label={ctx.roles.label}")
    out.insert(0, f)
    return out, info


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
