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
one-hot columns; identical to ``DecisionTreeClassifier(max_depth=3, class_weight="balanced")`` up
to the breaking of exact ties) predicting S from all non-sensitive attributes, with the permutation
p-value of ``sklearn.model_selection.permutation_test_score`` (same algorithm, run on pattern counts
so that 100 x 5 fits take well under a second; ``N_PERMUTATIONS = 99``: p_min = 0.01, 999 would be ten
times slower).  ``kind="strong_proxy"`` when balanced accuracy - 1/|S| >= 0.2 and p <= alpha.
Classes of S with fewer than ``MIN_CLASS_ROWS`` rows are left out of the probe (and named); with
fewer than two classes left it reports "insufficient data".
"""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np

from .. import stats
from ..engine.context import AuditContext
from ..findings import BiasType, Finding

__all__ = ["proxies", "association_measures", "predictability", "PatternTree", "stratified_folds",
           "MAX_PAIRS", "MIN_CLASS_ROWS", "N_PERMUTATIONS", "U_PROXY", "V_PROXY", "LIFT_STRONG"]

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
MAX_EXPANDED_ROWS = 200_000
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
            "mi": mi, "mi_bias": (r - 1) * (c - 1) / (2 * n) if n else math.nan,
            "nmi": mi / ((h_s + h_x) / 2) if h_s + h_x > 0 else math.nan,
            "u_s_given_x": stats.theils_u(t, given_axis=1), "u_x_given_s": stats.theils_u(t, given_axis=0),
            "h_s": h_s, "h_x": h_x, "levels": (r, c)}


# ----------------------------------------------------------------------------- the probe
class PatternTree:
    """Depth-limited CART (Gini, class-balanced weights) grown on the class counts of attribute patterns.

    ``patterns`` (P x J int codes) are the distinct rows of the attribute table.  Splits are
    ``attribute == level`` against the rest, exactly the splits a tree has on one-hot columns,
    and the class weights are ``n / (K n_c)`` of the training counts, as
    ``DecisionTreeClassifier(max_depth=3, class_weight="balanced")``.  Growing on counts instead
    of rows is what makes 100 x 5 fits affordable.  Ties go to the first attribute/level.
    """

    def __init__(self, patterns: np.ndarray, max_depth: int = MAX_DEPTH):
        self.patterns = np.asarray(patterns)
        self.max_depth = max_depth
        sizes = self.patterns.max(axis=0) + 1
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        p = len(self.patterns)
        self._onehot_t = np.zeros((int(sizes.sum()), p))
        for j in range(self.patterns.shape[1]):
            self._onehot_t[offsets[j] + self.patterns[:, j], np.arange(p)] = 1.0
        self._cols = [(j, lv) for j in range(self.patterns.shape[1]) for lv in range(sizes[j])]

    def fit_counts(self, cnt: np.ndarray) -> np.ndarray:
        """Leaf class (0..K-1) of every pattern, from training counts ``cnt`` (P x K)."""
        nc = cnt.sum(axis=0)
        k = int((nc > 0).sum())
        wc = cnt * np.where(nc > 0, nc.sum() / (k * np.where(nc > 0, nc, 1)), 0.0)
        n_rows = cnt.sum(axis=1)
        self.leaf_ = np.zeros(len(cnt), dtype=np.int64)
        self.splits_ = []
        self._grow(np.ones(len(cnt), dtype=bool), n_rows, wc, 0, wc.sum(axis=0), n_rows.sum())
        return self.leaf_

    def _grow(self, mask, n_rows, wc, depth, tot, n) -> None:
        w = tot.sum()
        if depth >= self.max_depth or n < 2 or w <= 0 or 1 - ((tot / w) ** 2).sum() <= 1e-12:
            self.leaf_[mask] = int(np.argmax(tot))
            return
        left = self._onehot_t @ (wc * mask[:, None])
        n_left = self._onehot_t @ (n_rows * mask)
        right = tot - left
        wl, wr = left.sum(axis=1), right.sum(axis=1)
        valid = (n_left > 0) & (n - n_left > 0)
        if not valid.any():
            self.leaf_[mask] = int(np.argmax(tot))
            return
        cost = np.full(len(valid), np.inf)
        cost[valid] = ((wl - (left ** 2).sum(axis=1) / np.where(wl > 0, wl, 1))
                       + (wr - (right ** 2).sum(axis=1) / np.where(wr > 0, wr, 1)))[valid]
        best = int(np.argmin(cost))
        self.splits_.append((depth, *self._cols[best]))
        inside = mask & (self._onehot_t[best] > 0)
        self._grow(inside, n_rows, wc, depth + 1, left[best], n_left[best])
        self._grow(mask & ~inside, n_rows, wc, depth + 1, right[best], n - n_left[best])


def stratified_folds(y: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold id of every row: within each class, rows in random order dealt round-robin to the folds."""
    order = np.lexsort((rng.random(len(y)), y))
    rank = np.empty(len(y), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(np.bincount(y))])
    rank[order] = np.arange(len(y)) - np.repeat(starts[:-1], np.bincount(y))
    return rank % n_folds


def _cv_score(tree: PatternTree, pid: np.ndarray, y: np.ndarray, k: int, folds: np.ndarray) -> float:
    """Mean over folds of the balanced accuracy on the held-out fold (mean recall over its classes)."""
    p = len(tree.patterns)
    c = np.bincount((folds * p + pid) * k + y, minlength=N_FOLDS * p * k).reshape(N_FOLDS, p, k).astype(float)
    total = c.sum(axis=0)
    scores = []
    for f in range(N_FOLDS):
        leaf = tree.fit_counts(total - c[f])
        hits = c[f][np.arange(p), leaf]                       # held-out rows predicted right, per pattern
        per_class = np.bincount(leaf, weights=hits, minlength=k)
        n_class = c[f].sum(axis=0)
        present = n_class > 0
        scores.append(float(np.mean(per_class[present] / n_class[present])))
    return float(np.mean(scores))


def predictability(codes: np.ndarray, y: np.ndarray, *, n_permutations: int = N_PERMUTATIONS,
                   random_state: int = 0) -> dict:
    r"""Cross-validated balanced accuracy of a depth-3 tree predicting ``y`` from ``codes``, with a permutation p.

    The algorithm of ``sklearn.model_selection.permutation_test_score`` (Ojala & Garriga 2010): the
    stratified 5-fold CV score :math:`s_0` on the data, then on ``n_permutations`` random
    permutations of ``y`` (folds re-drawn, stratified by the permuted labels), and

    .. math:: p = rac{1 + \#\{b : s_b \ge s_0\}}{B + 1}, \qquad p_{min} = rac{1}{B+1}.

    Parameters
    ----------
    codes : int array of shape (n_rows, n_attributes)
    y : int array of shape (n_rows,), values 0..K-1, every class present

    Returns
    -------
    dict
        balanced_accuracy, chance (1/K), lift, p_value, p_min, n_permutations, null_mean,
        n_classes, n_rows, splits ((depth, attribute index, level index) of a tree fitted on all rows).

    References
    ----------
    Ojala, M. & Garriga, G. C. (2010). Permutation tests for studying classifier performance.
    JMLR 11, 1833-1863.
    """
    rng = np.random.default_rng(random_state)
    y = np.asarray(y, dtype=np.int64)
    k = int(y.max()) + 1
    patterns, pid = np.unique(np.asarray(codes), axis=0, return_inverse=True)
    pid = pid.ravel()
    tree = PatternTree(patterns)
    score = _cv_score(tree, pid, y, k, stratified_folds(y, N_FOLDS, rng))
    null = np.empty(n_permutations)
    for b in range(n_permutations):
        yb = rng.permutation(y)
        null[b] = _cv_score(tree, pid, yb, k, stratified_folds(yb, N_FOLDS, rng))
    p = (1 + int(np.sum(null >= score - 1e-12))) / (n_permutations + 1)
    tree.fit_counts(np.bincount(pid * k + y, minlength=len(patterns) * k).reshape(-1, k).astype(float))
    return {"balanced_accuracy": score, "chance": 1 / k, "lift": score - 1 / k, "p_value": p,
            "p_min": 1 / (n_permutations + 1), "n_permutations": n_permutations,
            "null_mean": float(null.mean()), "n_classes": k, "n_rows": int(len(y)), "splits": list(tree.splits_)}


# ----------------------------------------------------------------------------- detector
def _pct(u: float) -> str:
    return "n/a" if not math.isfinite(u) else f"{100 * u:.0f}%" if u >= 0.01 or u == 0 else f"{100 * u:.1g}%"


def proxies(ctx: AuditContext) -> tuple[list[Finding], dict]:
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
    return findings, section


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
        details={"sensitive": s_, "candidate": x, "theils_u": u_s, "theils_u_reverse": u_x, "cramers_v": m["v"],
                 "cramers_v_corrected": v, "mutual_info_nats": m["mi"], "miller_madow_bias": m["mi_bias"],
                 "nmi": m["nmi"], "entropy_sensitive": m["h_s"], "entropy_candidate": m["h_x"],
                 "dof": res.dof, "valid": res.valid, "note": res.note, "table": t.tolist()})


def _probe(ctx: AuditContext, s_: str, features: list) -> tuple[Finding | None, dict]:
    st, tab = ctx.settings, ctx.table
    out = {"sensitive": s_, "status": "tested", "reason": "", "features": list(features)}
    if not features:
        return None, {**out, "status": "not run", "reason": "no non-sensitive attribute to predict from"}
    codes = np.column_stack([tab.codes[f] for f in features])
    y = np.asarray(tab.codes[s_], dtype=np.int64)
    if tab.weights is not None:
        w = tab.weights
        if not np.allclose(w, np.round(w)) or w.sum() > MAX_EXPANDED_ROWS:
            return None, {**out, "status": "not run", "reason": "weights are not small integer counts"}
        rep = np.round(w).astype(np.int64)
        codes, y = np.repeat(codes, rep, axis=0), np.repeat(y, rep)
    levels = tab.levels[s_]
    n_class = np.bincount(y, minlength=len(levels))
    kept = np.flatnonzero(n_class >= MIN_CLASS_ROWS)
    dropped = [f"{levels[i]} ({n_class[i]})" for i in np.flatnonzero((n_class > 0) & (n_class < MIN_CLASS_ROWS))]
    if dropped:
        out["dropped_classes"] = dropped
    if len(kept) < 2:
        return None, {**out, "status": "insufficient data",
                      "reason": f"fewer than two classes of {s_} with >= {MIN_CLASS_ROWS} rows"}
    rows = np.isin(y, kept)
    yk = np.searchsorted(kept, y[rows])
    r = predictability(codes[rows], yk, random_state=st.random_state)
    out.update({k: r[k] for k in ("balanced_accuracy", "chance", "lift", "p_value", "n_permutations", "null_mean",
                                  "n_classes", "n_rows")})
    out["splits"] = [f"{features[j]}={tab.levels[features[j]][lv]}" for _, j, lv in r["splits"]]
    strong = r["lift"] >= LIFT_STRONG and r["p_value"] <= st.alpha
    level = sum(r["lift"] >= t for t in LIFT_LEVELS)
    left = f" (classes with < {MIN_CLASS_ROWS} rows left out: {', '.join(dropped)})" if dropped else ""
    how = "is predictable (strong proxy set)" if strong else "is predicted"
    msg = (f"{s_} {how} from the non-sensitive attributes: a depth-3 tree reaches balanced accuracy "
           f"{r['balanced_accuracy']:.2f} in stratified 5-fold cross-validation against {r['chance']:.2f} by "
           f"chance{left}; permutation p={r['p_value']:.3g} ({r['n_permutations']} permutations)")
    top = ", ".join(dict.fromkeys(out["splits"][:3]))
    finding = Finding(
        id=f"proxies:predict:{s_}", bias_type=BiasType.PROXY.value, detector="proxies",
        kind="strong_proxy" if strong else "predictability", attributes={s_: None}, message=msg,
        test=f"permutation test of CV balanced accuracy ({r['n_permutations']} permutations)",
        statistic=r["balanced_accuracy"], p_value=r["p_value"], p_min=r["p_min"], testable=r["p_min"] <= st.alpha,
        in_family=True, effect_size=r["lift"], effect_size_name="balanced_accuracy_lift", effect_level=level,
        n=r["n_rows"], pattern=r["lift"] >= LIFT_STRONG,
        suggestion=(f"Dropping {s_} does not remove it: the other attributes carry it (first splits: {top}); "
                    f"audit or drop them, or test the model's outcomes by {s_}."),
        details={k: v for k, v in out.items() if k not in ("status", "reason")})
    return finding, out
