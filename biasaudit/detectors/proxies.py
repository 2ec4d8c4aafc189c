r"""Proxies: attributes that carry a sensitive attribute, so that dropping it does not remove it (STATISTICS.md §5).

When sensitive attributes are named, every non-sensitive, non-derived attribute X is a candidate
for each sensitive S (other sensitive attributes are not: they would be dropped too), and so is
the label (reported, not tested twice: its test is the group-attribution association of S, which
the finding names in ``explained_by``).  When none is named, the pairs of audited attributes are
described instead: not in the family, because without a sensitive attribute there is no proxy
hypothesis and the attributes of any data set are associated; above ``MAX_PAIRS`` pairs the scan
is skipped and the section says so.  Per pair, from one count table:

* corrected Cramér's V (Bergsma 2013), plug-in mutual information in nats with its Miller-Madow
  bias :math:`(r-1)(c-1)/(2n)`, NMI (arithmetic mean of the entropies), and Theil's
  :math:`U(S \mid X) = I(S;X)/H(S)`, the proxy strength;
* the independence test of §1.1 (``stats.independence_test``), in the family;
* ``kind="proxy"``, pattern when :math:`U(S \mid X) \ge 0.2` or :math:`V_{corr} \ge 0.3`; effect level
  from the Cramér's V thresholds;
* ``kind="derived"`` (info, not in the family) when :math:`U(X \mid S) = 1`: X is a function of S.
  Columns biasaudit derived from S itself (indicators of a multi-valued S) are listed in the section.

Predictability (named sensitive attributes only): stratified 5-fold cross-validated balanced
accuracy of a depth-3 classification tree (class-balanced Gini, splits ``attribute == level`` as on
one-hot columns; ``DecisionTreeClassifier(max_depth=3, class_weight="balanced")`` up to the breaking
of exact ties) predicting S from all non-sensitive attributes, with the permutation p-value of
``sklearn.model_selection.permutation_test_score`` (same algorithm; the 100 x 5 fits are grown
together, :mod:`biasaudit.detectors._cvtree`; ``N_PERMUTATIONS = 99``: p_min = 0.01).  It runs on a
seeded sample of at most ``PROBE_ROWS`` rows (every row below that): cross-validation needs the joint
distribution of every attribute, which no low-dimensional count table holds, and a random sample
keeps the permutation test exact while bounding its cost whatever the number of rows.
``kind="strong_proxy"`` when balanced accuracy - 1/|S| >= 0.2 and p <= alpha.  Classes of S with
fewer than ``MIN_CLASS_ROWS`` rows in the sample are left out of the probe (and named); with fewer
than two classes left it reports "insufficient data".
"""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np

from .. import stats
from ..engine.context import AuditContext
from ..findings import BiasType, DetectorResult, Finding, hypothesis_key

__all__ = ["proxies", "association_measures", "predictability", "MAX_PAIRS", "MIN_CLASS_ROWS", "N_PERMUTATIONS",
           "PROBE_ROWS", "U_PROXY", "V_PROXY", "LIFT_STRONG"]

MAX_PAIRS = 200
MIN_CLASS_ROWS = 20
N_PERMUTATIONS = 99
N_FOLDS = 5
MAX_DEPTH = 3
U_PROXY = 0.2
V_PROXY = 0.3
LIFT_STRONG = 0.2
#: Balanced-accuracy lift over chance for effect levels 1, 2, 3 (our choice; §5 names only 0.2).
LIFT_LEVELS = (0.05, 0.10, 0.20)
#: Rows (a seeded sample above this) of the predictability probe, as the classifier probe's PERM_ROWS.
PROBE_ROWS = 1_000
_ONE = 1 - 1e-9


# ----------------------------------------------------------------------------- measures
def association_measures(table) -> dict:
    r"""Association of S (rows) and X (columns) of a count table.

    Returns
    -------
    dict
        ``v`` and ``v_corrected`` (Cramér's V, Bergsma-corrected), ``mi`` (nats, plug-in),
        ``mi_bias`` (Miller-Madow :math:`(r-1)(c-1)/(2n)`), ``nmi`` (:math:`I / \tfrac12(H_S + H_X)`,
        as ``sklearn.metrics.normalized_mutual_info_score``), ``u_s_given_x`` = :math:`I/H(S)`,
        ``u_x_given_s`` = :math:`I/H(X)`, ``h_s``, ``h_x``; empty rows and columns are dropped.

    References
    ----------
    Bergsma (2013) J. Korean Stat. Soc. 42:323; Miller (1955) Note on the bias of information
    estimates; Theil (1970) Am. J. Sociology 76:103.
    """
    t = np.asarray(table)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    r, c, n = t.shape[0], t.shape[1], float(t.sum())
    h_s, h_x = stats.entropy_nats(t.sum(axis=1)), stats.entropy_nats(t.sum(axis=0))
    mi = stats.mutual_info(t)
    return {"v": stats.cramers_v(t, corrected=False), "v_corrected": stats.cramers_v(t, corrected=True),
            "mi": mi, "mi_bias": stats.mutual_info_bias(r, c, n),
            "nmi": mi / ((h_s + h_x) / 2) if h_s + h_x > 0 else math.nan,
            "u_s_given_x": stats.theils_u(t, given_axis=1), "u_x_given_s": stats.theils_u(t, given_axis=0),
            "h_s": h_s, "h_x": h_x, "levels": (r, c)}


# ----------------------------------------------------------------------------- the probe
def predictability(codes: np.ndarray, sizes, y: np.ndarray, *, n_permutations: int = N_PERMUTATIONS,
                   random_state: int = 0) -> dict:
    r"""Cross-validated balanced accuracy of a depth-3 tree predicting ``y`` from ``codes``, with a permutation p.

    Stratified 5-fold CV of a class-balanced Gini tree on splits ``attribute == level``, scored and
    permutation-tested as ``sklearn.model_selection.permutation_test_score``; all (B + 1) x 5 fits
    are grown together (:func:`biasaudit.detectors._cvtree.cv_permutation_score`).

    Parameters
    ----------
    codes : int array of shape (n_rows, n_attributes)
    sizes : sequence of int
        Levels of each attribute.
    y : int array of shape (n_rows,), values 0..K-1, every class present

    Returns
    -------
    dict
        balanced_accuracy, chance (1/K), lift, p_value, p_min, n_permutations, null_mean,
        n_classes, n_rows, n_patterns, splits ((depth, attribute index, level index) of the tree
        fitted on every row).
    """
    from ._cvtree import cv_permutation_score
    return cv_permutation_score(codes, sizes, y, n_folds=N_FOLDS, max_depth=MAX_DEPTH,
                                n_permutations=n_permutations, random_state=random_state)


def _probe_rows(ctx: AuditContext, columns: list, rng: np.random.Generator):
    """Level codes of a seeded sample of at most ``PROBE_ROWS`` rows (weight units when weighted).

    The probe's one read of rows: cross-validation and permutations need the joint distribution
    of every attribute, which no low-dimensional count table holds.  It reads the engine's
    seeded row sample (``ctx.sample``) when the context offers one, else the in-memory table;
    returns ``(codes, reason)`` with codes None when no rows are held.
    """
    tab = getattr(ctx, "sample", None) or ctx.table
    if not isinstance(getattr(tab, "codes", None), dict):
        return None, "the engine holds count tables only (no row sample)"
    mat = np.column_stack([np.asarray(tab.codes[c], dtype=np.int64) for c in columns])
    w = tab.weights
    if w is None:
        if len(mat) > PROBE_ROWS:
            mat = mat[np.sort(rng.choice(len(mat), PROBE_ROWS, replace=False))]
        return mat, ""
    if not np.allclose(w, np.round(w)):
        return None, "weights are not integer counts"
    units = np.round(w).astype(np.int64)
    if units.sum() > PROBE_ROWS:
        units = rng.multivariate_hypergeometric(units, PROBE_ROWS, method="marginals")
    return np.repeat(mat, units, axis=0), ""


# ----------------------------------------------------------------------------- detector
def _pct(u: float) -> str:
    return "n/a" if not math.isfinite(u) else f"{100 * u:.0f}%" if u >= 0.01 or u == 0 else f"{100 * u:.1g}%"


def proxies(ctx: AuditContext) -> DetectorResult:
    """Proxy, derived and strong-proxy findings; see the module docstring."""
    roles = ctx.roles
    sens = set(roles.sensitive)
    plain = [a for a in roles.attributes if roles.parent(a) == a]
    others = [a for a in plain if a not in sens]
    findings: list[Finding] = []
    text, skipped, derived, probes = [], [], [], []
    if others:  # sensitive attributes were named: every other attribute (and the label) is a candidate
        mode = "sensitive"
        pairs = [(s_, x) for s_ in roles.sensitive for x in others if roles.parent(x) != roles.parent(s_)]
        for s_ in roles.sensitive:
            derived.extend({"attribute": d, "sensitive": s_, "how": "computed from it by biasaudit"}
                           for d, parent in roles.derived.items() if parent == roles.parent(s_) and d != s_)
    else:
        mode = "pairs"
        pairs = list(combinations(plain, 2))
        if len(pairs) > MAX_PAIRS:
            text.append(f"Proxy scan skipped: {len(plain)} attributes give {len(pairs)} pairs (more than "
                        f"{MAX_PAIRS}); name the sensitive attributes (--sensitive) to check their proxies.")
            skipped.append({"reason": f"{len(pairs)} pairs > {MAX_PAIRS}"})
            pairs = []
    for s_, x in pairs:
        f = _pair_finding(ctx, s_, x, mode)
        if f is None:
            skipped.append({"sensitive": s_, "candidate": x, "reason": "non-integer weights or one level"})
            continue
        findings.append(f)
        if f.kind == "derived":
            u_x = f.details["theils_u_reverse"]
            d, parent = (x, s_) if u_x >= _ONE else (s_, x)
            derived.append({"attribute": d, "sensitive": parent, "how": "a function of it in the data"})
    if mode == "sensitive":
        for s_ in roles.sensitive:
            f = _pair_finding(ctx, s_, roles.label, "label")
            if f is not None:
                findings.append(f)
        for s_ in roles.sensitive:
            f, probe = _probe(ctx, s_, others)
            probes.append(probe)
            if f is not None:
                findings.append(f)
    n_proxy = sum(1 for f in findings if f.kind == "proxy" and f.pattern and f.explained_by is None)
    text.insert(0, f"Proxies ({'named sensitive attributes' if mode == 'sensitive' else 'attribute pairs'}): "
                   f"{len(pairs)} pair(s) tested, {n_proxy} with the proxy pattern (U >= {U_PROXY:g} or "
                   f"corrected V >= {V_PROXY:g}); mutual information is the plug-in estimate (nats), biased "
                   f"upward by about (r-1)(c-1)/(2n) (Miller-Madow).")
    if derived:
        text.append("Derived (one attribute a function of the other; not counted as proxies): "
                    + "; ".join(f"{d['attribute']} from {d['sensitive']}" for d in derived) + ".")
    for pr in probes:
        if pr["status"] != "tested":
            text.append(f"Predictability of {pr['sensitive']}: {pr['status']} ({pr['reason']}).")
    section = {"title": "Proxies for sensitive attributes", "text": text, "mode": mode, "pairs": len(pairs),
               "skipped": skipped, "derived": derived, "predictability": probes}
    return DetectorResult(findings, section)


def _pair_finding(ctx: AuditContext, s_: str, x: str, mode: str) -> Finding | None:
    st = ctx.settings
    counts = ctx.table.count(s_, x).counts
    if not np.allclose(counts, np.round(counts)):
        return None
    t = np.round(counts).astype(np.int64)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    if min(t.shape) < 2:
        return None
    m = association_measures(t)
    res = stats.independence_test(t, alpha=st.alpha, rng=st.random_state, exact_2x2=st.exact_2x2)
    u_s, u_x, v = m["u_s_given_x"], m["u_x_given_s"], m["v_corrected"]
    pattern = bool((u_s >= U_PROXY) or (math.isfinite(v) and v >= V_PROXY))
    if mode == "pairs":
        pattern = pattern or bool(u_x >= U_PROXY)
    level = stats.effect_level("cramers_v", v, dof_star=min(t.shape) - 1) if math.isfinite(v) else 0
    if mode == "sensitive" and not pattern:
        level = 0  # an association below the proxy thresholds is real but negligible as a proxy ("low")
    numbers = (f"corrected Cramér's V {v:.2f}, MI {m['mi']:.3g} nats (Miller-Madow bias {m['mi_bias']:.2g}), "
               f"NMI {m['nmi']:.2f}; {res.test} p={res.p_value:.3g}")
    kind, in_family, severity, explained = "proxy", True, "info", None
    suggestion = f"Dropping {s_} does not remove it: {x} carries it; audit or drop {x}."
    if mode == "pairs":
        det = (f" ({s_} is a function of {x})" if u_s >= _ONE
               else f" ({x} is a function of {s_})" if u_x >= _ONE else "")
        head = "carry each other's information" if pattern else "share little information"
        msg = (f"{x} and {s_} {head}{det}: {x} removes {_pct(u_s)} of the uncertainty about "
               f"{s_} and {s_} {_pct(u_x)} of that about {x} (Theil's U); {numbers}")
        suggestion = f"Dropping either of {s_} and {x} does not remove it: the other carries it; audit or drop both."
        fid = f"proxies:{x}~{s_}"
        in_family = False  # no sensitive attribute named: a description of the data, not a hypothesis
        if u_s >= _ONE or u_x >= _ONE:
            kind = "derived"
    elif mode == "label":
        head = "is a candidate proxy for" if pattern else "carries little information on"
        msg = (f"The label {x} {head} {s_}: it removes {_pct(u_s)} of the uncertainty about {s_} "
               f"(Theil's U); {numbers}")
        kind, in_family, explained = "proxy", False, f"group_attribution:{s_}:label={x}"
        severity = "insufficient-data" if (res.p_min > st.alpha and pattern) else "info"
        suggestion = (f"A model trained on {x} learns what {x} says about {s_}; this is the group-attribution "
                      f"test of {s_} (see that finding).")
        fid = f"proxies:label->{s_}"
    elif u_x >= _ONE:
        msg = (f"{x} is a deterministic function of {s_} (U({x}|{s_}) = 1; DERIVED, not a proxy): it keeps "
               f"{_pct(u_s)} of the information on {s_}; {numbers}")
        kind, in_family = "derived", False
        suggestion = f"{x} is computed from {s_}: drop or audit it together with {s_}."
        fid = f"proxies:derived:{x}<-{s_}"
    else:
        head = f"{x} is a candidate proxy for {s_}" if pattern else \
            f"{x} is associated with {s_} below the proxy thresholds"
        msg = (f"{head}: it removes {_pct(u_s)} of the uncertainty about {s_} (Theil's U({s_}|{x}); "
               f"U({x}|{s_}) = {u_x:.2f}); {numbers}")
        fid = f"proxies:{x}->{s_}"
    return Finding(
        id=fid, bias_type=BiasType.PROXY.value, detector="proxies", kind=kind, attributes={x: None, s_: None},
        message=msg, test=res.test, statistic=res.statistic, p_value=res.p_value, p_min=res.p_min,
        testable=res.p_min <= st.alpha, in_family=in_family, effect_size=v if math.isfinite(v) else None,
        effect_size_name="cramers_v_corrected", effect_level=level, n=int(t.sum()), pattern=pattern,
        severity=severity, explained_by=explained, suggestion=suggestion,
        hypothesis=_pair_key(ctx, s_, x, t) if mode == "label" else hypothesis_key("independence", [s_, x]),
        details={"sensitive": s_, "candidate": x, "theils_u": u_s, "theils_u_reverse": u_x, "cramers_v": m["v"],
                 "cramers_v_corrected": v, "mutual_info_nats": m["mi"], "miller_madow_bias": m["mi_bias"],
                 "nmi": m["nmi"], "entropy_sensitive": m["h_s"], "entropy_candidate": m["h_x"],
                 "dof": res.dof, "valid": res.valid, "note": res.note, "table": t.tolist()})


def _pair_key(ctx: AuditContext, s_: str, label: str, t: np.ndarray) -> str:
    """The key group attribution gives the same S x label table: its 2x2 key when the table is 2 x 2."""
    if t.shape == (2, 2):
        levels = [lv for lv, n in zip(ctx.table.levels[s_], ctx.table.count(s_).counts) if n > 0]
        return hypothesis_key("2x2", [s_, label], {s_: sorted(str(v) for v in levels)[0]})
    return hypothesis_key("independence", [s_, label])


def _probe(ctx: AuditContext, s_: str, features: list) -> tuple[Finding | None, dict]:
    st, tab = ctx.settings, ctx.table
    out = {"sensitive": s_, "status": "tested", "reason": "", "features": list(features)}
    if not features:
        return None, {**out, "status": "not run", "reason": "no non-sensitive attribute to predict from"}
    rows, why = _probe_rows(ctx, list(features) + [s_], ctx.rng(7))
    if rows is None:
        return None, {**out, "status": "not run", "reason": why}
    codes, y = rows[:, :-1], rows[:, -1]
    n_total = int(round(float(tab.count(s_).counts.sum())))
    levels = tab.levels[s_]
    n_class = np.bincount(y, minlength=len(levels))
    kept = np.flatnonzero(n_class >= MIN_CLASS_ROWS)
    dropped = [f"{levels[i]} ({n_class[i]})" for i in np.flatnonzero((n_class > 0) & (n_class < MIN_CLASS_ROWS))]
    if dropped:
        out["dropped_classes"] = dropped
    if len(kept) < 2:
        return None, {**out, "status": "insufficient data",
                      "reason": f"fewer than two classes of {s_} with >= {MIN_CLASS_ROWS} rows"
                                + (f" in the sample of {len(y):,} rows" if len(y) < n_total else "")}
    keep = np.isin(y, kept)
    yk = np.searchsorted(kept, y[keep])
    r = predictability(codes[keep], [len(tab.levels[f]) for f in features], yk, random_state=st.random_state)
    out.update({k: r[k] for k in ("balanced_accuracy", "chance", "lift", "p_value", "n_permutations", "null_mean",
                                  "n_classes", "n_rows", "n_patterns")})
    out["sampled"] = bool(len(y) < n_total)
    out["splits"] = [f"{features[j]}={tab.levels[features[j]][lv]}" for _, j, lv in r["splits"]]
    strong = r["lift"] >= LIFT_STRONG and r["p_value"] <= st.alpha
    level = sum(r["lift"] >= t for t in LIFT_LEVELS)
    left = f" (classes with < {MIN_CLASS_ROWS} rows left out: {', '.join(dropped)})" if dropped else ""
    on = f" on a seeded sample of {r['n_rows']:,} of {n_total:,} rows" if out["sampled"] else ""
    how = "is predictable (strong proxy set)" if strong else "is predicted"
    msg = (f"{s_} {how} from the non-sensitive attributes: a depth-3 tree reaches balanced accuracy "
           f"{r['balanced_accuracy']:.2f} in stratified 5-fold cross-validation{on} against {r['chance']:.2f} by "
           f"chance{left}; permutation p={r['p_value']:.3g} ({r['n_permutations']} permutations)")
    top = ", ".join(dict.fromkeys(out["splits"][:3]))
    finding = Finding(
        id=f"proxies:predict:{s_}", bias_type=BiasType.PROXY.value, detector="proxies",
        kind="strong_proxy" if strong else "predictability", attributes={s_: None}, message=msg,
        test=f"permutation test of CV balanced accuracy ({r['n_permutations']} permutations)",
        statistic=r["balanced_accuracy"], p_value=r["p_value"], p_min=r["p_min"], testable=r["p_min"] <= st.alpha,
        in_family=True, effect_size=r["lift"], effect_size_name="balanced_accuracy_lift", effect_level=level,
        n=r["n_rows"], pattern=r["lift"] >= LIFT_STRONG,
        hypothesis=hypothesis_key("predictability", [s_, *features]),
        suggestion=(f"Dropping {s_} does not remove it: the other attributes carry it (first splits: {top}); "
                    f"audit or drop them, or test the model's outcomes by {s_}."),
        details={k: v for k, v in out.items() if k not in ("status", "reason")})
    return finding, out
