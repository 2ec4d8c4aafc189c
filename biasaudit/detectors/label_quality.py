"""Label quality: conflicting labels, class imbalance and the positives each group has to learn from.

* **Conflicting labels.** Rows whose audited attributes are identical (raw values of every
  audited column; a missing value is a value) but whose labels differ, counted over every row
  from hashes of the attribute vectors by label (:meth:`biasaudit.engine.store.CountStore.conflicts`) -- the lecture's Ex01 small
  brown KURI against Ex04 small brown PUSI.  Counted by attribute vector with the share of the
  data they touch, naming the rows.  They mean label noise or an attribute that decides the label
  but is missing.  The share of rows that no rule on these attributes can classify correctly,
  :math:`\\sum_v (n_v - \\max_y n_{vy}) / n`, is the error floor of any classifier trained on them
  (the empirical Bayes error on the training data).
* **Class imbalance.** The label distribution, the majority/minority ratio and, per sensitive
  group, how many rows of the positive label (and of the other labels) the group contributes.
  A group with fewer than ``MIN_EVENTS`` positives gives a model too few examples to learn its
  pattern (the events-per-variable rule of Peduzzi et al. 1996); its rate's Wilson interval is shown.

These are descriptive observations (not in the multiple-testing family); the section
``label_quality`` holds ``conflicts``, ``class_balance`` and ``positives_by_group``.

References
----------
Frenay, B. & Verleysen, M. (2014). Classification in the presence of label noise: a survey.
IEEE TNNLS 25, 845-869.
Peduzzi, P. et al. (1996). A simulation study of the number of events per variable in logistic
regression analysis. J. Clin. Epidemiol. 49, 1373-1379.
"""
from __future__ import annotations

from .. import stats
from ..engine.context import AuditContext
from ..findings import BiasType, DetectorResult, Finding

__all__ = ["label_quality", "conflicting_labels", "MIN_EVENTS"]

#: Fewer positives than this in a group are flagged as too few to learn from (Peduzzi 1996).
MIN_EVENTS = 10
_MAX_VECTORS_SHOWN = 20
_MAX_IDS = 10


def conflicting_labels(ctx: AuditContext) -> dict:
    """Attribute vectors carrying more than one label value, counted over every row by hashing.

    Returns
    -------
    dict
        ``columns``, ``n``, ``n_vectors``, ``vectors`` (one dict per conflicting vector, largest
        first, then by first appearance; at most 20: values, n, label counts, ids per label),
        ``n_vectors_conflicting``, ``n_rows_conflicting``, ``share_conflicting`` and
        ``error_floor`` (share of rows any rule on these attributes gets wrong).
    """
    return ctx.table.conflicts()


def _vector_text(v: dict) -> str:
    vals = ", ".join(f"{k}={x}" for k, x in v["values"].items())
    parts = [f"{lab} x{d['n']:g} ({', '.join(d['ids'])}{' ...' if d['n'] > len(d['ids']) else ''})"
             for lab, d in sorted(v["labels"].items(), key=lambda kv: (-kv[1]["n"], kv[0]))]
    return f"{vals}: " + " vs ".join(parts)


def _conflict_finding(ctx: AuditContext, c: dict) -> Finding | None:
    if not c["vectors"]:
        return None
    label = ctx.roles.label
    cols = " and ".join(c["columns"])
    k = c["n_vectors_conflicting"]
    shown = "; ".join(_vector_text(v) for v in c["vectors"][:3]) + ("; ..." if k > 3 else "")
    msg = (f"{c['n_rows_conflicting']:g} of {c['n']:g} rows ({100 * c['share_conflicting']:.0f}%) share their {cols} "
           f"with a row of another {label}: {k} attribute vector(s) with conflicting labels ({shown}); any rule on "
           f"these attributes misclassifies at least {100 * c['error_floor']:.0f}% of the rows")
    return Finding(
        id=f"label_quality:conflicting_labels:label={label}", bias_type=BiasType.LABEL_QUALITY.value,
        detector="label_quality", kind="conflicting_labels", attributes={a: None for a in c["columns"]},
        message=msg, in_family=False, testable=False, n=int(round(c["n_rows_conflicting"])),
        observed=c["n_rows_conflicting"], effect_size=c["share_conflicting"],
        effect_size_name="share_conflicting", pattern=True, severity="info",
        evidence=tuple({**v["values"], "n": v["n"],
                        **{f"{lab}": d["n"] for lab, d in v["labels"].items()},
                        "ids": {lab: d["ids"] for lab, d in v["labels"].items()}}
                       for v in c["vectors"][:_MAX_VECTORS_SHOWN]),
        suggestion=("Re-check the labels of these rows (label noise), or add the attribute that tells them apart; "
                    "a model cannot learn a rule the attributes do not carry."),
        details={"n_vectors_conflicting": k, "error_floor": c["error_floor"], "columns": c["columns"]})


def _balance(ctx: AuditContext) -> tuple[dict, list, list]:
    roles, alpha = ctx.roles, ctx.settings.alpha
    lc = ctx.label_counts.astype(float)
    levels = ctx.table.levels[roles.label]
    pos = ctx.label_index(roles.positive)
    n = lc.sum()
    nz = lc[lc > 0]
    balance = {"counts": {lv: float(x) for lv, x in zip(levels, lc)}, "positive": roles.positive,
               "positive_share": float(lc[pos] / n) if n else None,
               "imbalance_ratio": float(nz.max() / nz.min()) if nz.size else None}
    rows, findings = [], []
    for a in roles.sensitive:
        t = ctx.label_table(a)
        few = []
        for i, g in enumerate(t.levels[0]):
            n_g = float(t.counts[i].sum())
            if n_g == 0:
                continue
            k = float(t.counts[i, pos])
            lo, hi = stats.wilson_ci(int(round(k)), int(round(n_g)), alpha) if round(n_g) > 0 else (None, None)
            rec = {"attribute": a, "group": g, "n": n_g, "positives": k, "negatives": n_g - k,
                   "rate": k / n_g, "ci_low": lo, "ci_high": hi, "few": bool(k < MIN_EVENTS or n_g - k < MIN_EVENTS)}
            rows.append(rec)
            if rec["few"]:
                few.append(rec)
        if few:
            shown = "; ".join(f"{a}={r['group']}: {r['positives']:g} {roles.positive} and {r['negatives']:g} other "
                              f"of {r['n']:g} (rate 95% CI {_pct(r['ci_low'])}-{_pct(r['ci_high'])})"
                              for r in few[:6]) + ("; ..." if len(few) > 6 else "")
            findings.append(Finding(
                id=f"label_quality:few_examples:{a}:label={roles.positive}", bias_type=BiasType.LABEL_QUALITY.value,
                detector="label_quality", kind="imbalance", attributes={a: None}, label_value=roles.positive,
                message=(f"{len(few)} {a} group(s) have fewer than {MIN_EVENTS} rows of {roles.label}={roles.positive} "
                         f"or of the other labels to learn from ({shown})"),
                in_family=False, testable=False, n=int(round(sum(r["n"] for r in few))), pattern=True,
                severity="info", evidence=tuple(few[:_MAX_VECTORS_SHOWN]),
                suggestion=(f"Collect more labelled rows of these {a} groups, or do not trust a model's behaviour "
                            f"for them: its rate there rests on a handful of examples."),
                details={"min_events": MIN_EVENTS}))
    return balance, rows, findings


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def label_quality(ctx: AuditContext) -> DetectorResult:
    """Findings on conflicting labels and on the examples each group has; see the module docstring."""
    roles = ctx.roles
    conflicts = conflicting_labels(ctx)
    out = []
    f = _conflict_finding(ctx, conflicts)
    if f is not None:
        out.append(f)
    balance, by_group, few = _balance(ctx)
    out += few
    cols = ", ".join(conflicts["columns"])
    text = [f"Label quality: {conflicts['n_vectors_conflicting']} of {conflicts['n_vectors']} distinct attribute vectors "
            f"({cols}) carry more than one {roles.label}, touching {conflicts['n_rows_conflicting']:g} rows "
            f"({100 * conflicts['share_conflicting']:.1f}%); error floor of any rule on these attributes "
            f"{100 * conflicts['error_floor']:.1f}%."]
    text += [f"  {_vector_text(v)}" for v in conflicts["vectors"][:5]]
    counts = ", ".join(f"{k} {v:g}" for k, v in balance["counts"].items())
    text.append(f"Classes: {counts}; majority/minority ratio {balance['imbalance_ratio']:.2f}; positive class "
                f"{roles.label}={roles.positive} ({100 * (balance['positive_share'] or 0):.1f}%).")
    n_few = sum(1 for r in by_group if r["few"])
    if n_few:
        text.append(f"{n_few} of {len(by_group)} groups have fewer than {MIN_EVENTS} rows of {roles.positive} or of "
                    f"the other labels to learn from.")
    section = {"title": "Label quality", "text": text,
               "conflicts": {k: v for k, v in conflicts.items() if k != "vectors"} | {
                   "vectors": conflicts["vectors"][:_MAX_VECTORS_SHOWN]},
               "class_balance": balance, "positives_by_group": by_group}
    return DetectorResult(out, section)
