r"""Leakage: attributes that carry the outcome itself, or duplicate another attribute.

An attribute recorded *after* the outcome (COMPAS's ``is_recid``, ``r_charge_degree``, ``event``;
a student's second-period grade ``G2`` when the label is the final grade; a copy of the label) is
not a bias of the data but a leak: it would crowd every table of the audit (coverage gaps
"explained" by it, stratifiers that "explain" a group gap) and any model trained on it.  The
check reads count tables only:

* **outcome leak** -- the attribute alone predicts the label almost perfectly: the leave-one-out
  balanced accuracy of the class-balanced per-level rule on the attribute x label table
  (``stats.loo_balanced_accuracy``), normalised as Youden's :math:`J = (BA - 1/K)/(1 - 1/K)`, has a
  95 % lower bound :math:`J - 1.96\,se_J` of at least ``J_LEAK`` = 0.6 (for a binary label:
  sensitivity + specificity >= 1.6 on held-out rows, e.g. both above 80 %).  Leave-one-out removes
  the optimism of many small levels, and the lower bound the sampling noise of small tables.
* **copy** -- two attributes determine each other almost completely: Theil's U both ways, with the
  Miller-Madow bias removed (``stats.theils_u_corrected``), at least ``U_COPY`` = 0.95.  The later
  column (in the data's order) is flagged, never a sensitive attribute the user named.

Why these thresholds.  J = 0.6 is a round bar well above what legitimate predictors reach on the
shared benchmark data (the largest held-out J of a non-leaking attribute there is about 0.52:
education for occupation in the Dutch census, the law-school rank decile for bar passage) and below
what post-outcome columns reach (0.65-1.0).  It is a property of the rule, not of one data set;
``biasaudit`` reports, for every data set, which columns it flags and which it does not.  A
semantic leak that is only moderately predictive (bank marketing's call ``duration``, J about 0.44
at five bins) is not flagged: the counts cannot tell it from a strong, legitimate predictor;
``--exclude duration`` removes it.

:func:`find_leakage` is the plain function the audit calls before the other detectors (flagged
columns leave the attributes; ``--keep COL`` keeps one); :func:`leakage` is the detector, one
finding per flagged column.
"""
from __future__ import annotations

import math
from itertools import combinations
from typing import Iterable

import numpy as np

from .. import stats
from ..engine.context import AuditContext
from ..findings import BiasType, DetectorResult, Finding

__all__ = ["leakage", "find_leakage", "leakage_evidence", "J_LEAK", "U_COPY", "Z", "LEAK_MESSAGE"]

#: Lower bound of Youden's J (leave-one-out, class-balanced) above which an attribute is an outcome leak.
J_LEAK = 0.6
#: Theil's U both ways (bias-corrected) above which two attributes are copies of each other.
U_COPY = 0.95
#: Normal quantile of the one-sided 97.5 % bound.
Z = 1.959964
#: What every leakage finding says (the column name is filled in).
LEAK_MESSAGE = ("possible leakage or a proxy of the outcome: left out of combinations, stratifiers and "
                "explanations; pass --keep {column} to keep it")


def _plain(roles) -> list:
    return [a for a in roles.attributes if roles.parent(a) == a]


def leakage_evidence(table, roles, settings=None, *, keep: Iterable[str] = (), named: Iterable[str] | None = None) -> dict:
    """Every flagged column with its numbers: ``{column: {"kind", "reason", ...}}`` (see the module docstring).

    ``named``: the sensitive attributes the user named (never flagged as the copy of another); when
    None, the roles' sensitive attributes count as named unless they are every attribute.
    """
    keep = set(keep)
    label = roles.label
    out: dict = {}
    for a in _plain(roles):
        if a in keep:
            continue
        c = np.asarray(table.count(a, label).counts, dtype=float)
        r = stats.loo_balanced_accuracy(c)
        if not math.isfinite(r["youden_j"]):
            continue
        k = r["n_classes"]
        se_j = r["se"] / (1 - 1 / k)
        lower = r["youden_j"] - Z * se_j
        if lower >= J_LEAK:
            u = stats.theils_u_corrected(c, given_axis=0)
            out[a] = {"kind": "outcome", "youden_j": r["youden_j"], "youden_j_lower": lower,
                      "balanced_accuracy": r["balanced_accuracy"], "recall": r["recall"], "theils_u": u,
                      "n": r["n"], "levels": r["n_levels"],
                      "reason": (f"{a} alone predicts {label} on held-out rows with balanced accuracy "
                                 f"{r['balanced_accuracy']:.2f} (Youden's J {r['youden_j']:.2f}, 95 % lower bound "
                                 f"{lower:.2f} >= {J_LEAK:g}; leave-one-out on the {a} x {label} counts); it "
                                 f"removes {100 * u:.0f}% of the uncertainty about {label} (Theil's U)")}
    if named is None:
        named = set(roles.sensitive) if any(a not in roles.sensitive for a in _plain(roles)) else set()
    named = set(named)
    rest = [a for a in _plain(roles) if a not in out and a not in keep]
    ent = {a: stats.entropy_nats(np.asarray(table.count(a).counts, dtype=float)) for a in rest}
    for a, b in combinations(rest, 2):
        if b in out or a in out or ent[a] <= 0 or ent[b] <= 0:
            continue
        if abs(ent[a] - ent[b]) > (1 - U_COPY) * max(ent[a], ent[b]) * 2:   # copies have near-equal entropies
            continue
        c = np.asarray(table.count(a, b).counts, dtype=float)
        u_ab, u_ba = stats.theils_u_corrected(c, given_axis=1), stats.theils_u_corrected(c, given_axis=0)
        if min(u_ab, u_ba) >= U_COPY:
            flagged, original = (b, a) if b not in named else (a, b)
            if flagged in named:
                continue
            out[flagged] = {"kind": "copy", "copy_of": original, "theils_u": min(u_ab, u_ba),
                            "n": float(c.sum()), "levels": int((c.sum(axis=1) > 0).sum()),
                            "reason": (f"{flagged} is almost a copy of {original}: each determines "
                                       f"{100 * min(u_ab, u_ba):.0f}% or more of the other's uncertainty "
                                       f"(Theil's U both ways, bias-corrected, >= {U_COPY:g})")}
    return out


def find_leakage(table, roles, settings=None, *, keep: Iterable[str] = ()) -> dict:
    """Columns to leave out as leaks: ``{column: reason}`` (count tables only; see the module docstring).

    Parameters
    ----------
    table : CodedTable or CountStore
        Anything with ``count(*columns)``.
    roles : Roles
    settings : Settings, optional
        Unused today (the thresholds are module constants, printed in the method section).
    keep : iterable of str
        Columns the user keeps (``--keep``): never flagged.
    """
    return {c: e["reason"] for c, e in leakage_evidence(table, roles, settings, keep=keep).items()}


def leakage(ctx: AuditContext) -> DetectorResult:
    """One finding per flagged column (not in any family: a warning about the data, not a hypothesis).

    Columns a loader measured from the image files themselves (``attrs["biasaudit_computed"]``: pixel
    statistics, file size, format) are not checked: they exist before any label, so a strong one is a
    shortcut a model can take (reported by the other detectors), not a leak.
    """
    computed = [c for c in (getattr(ctx.raw, "attrs", None) or {}).get("biasaudit_computed", ())
                if c in ctx.roles.attributes]
    keep = tuple((ctx.options or {}).get("keep") or ()) + tuple(computed)
    found = leakage_evidence(ctx.table, ctx.roles, ctx.settings, keep=keep, named=(ctx.options or {}).get("named"))
    out = []
    for col, e in found.items():
        msg = f"{col}: {LEAK_MESSAGE.format(column=col)}. {e['reason']}."
        effect = e["youden_j"] if e["kind"] == "outcome" else e["theils_u"]
        out.append(Finding(
            id=f"leakage:{col}", bias_type=BiasType.PROXY.value, detector="leakage", kind="leakage",
            attributes={col: None}, message=msg, test=None, in_family=False, pattern=True, severity="info",
            effect_size=float(effect), effect_size_name="youden_j_loo" if e["kind"] == "outcome" else "theils_u_min",
            n=int(round(e["n"])), suggestion=(f"Check whether {col} is known before the outcome; if not, drop it "
                                              f"(it is already left out of this audit); --keep {col} keeps it."),
            details={k: v for k, v in e.items() if k != "reason"}))
    text = [f"Leakage check: {len(found)} column(s) left out as possible leaks"
            + (": " + ", ".join(found) if found else "") + f" (outcome: held-out Youden's J lower bound >= "
            f"{J_LEAK:g}; copies: Theil's U both ways >= {U_COPY:g})."]
    if computed:
        text.append(f"Not checked: {len(computed)} column(s) measured from the image files themselves "
                    f"({', '.join(computed[:6])}{' ...' if len(computed) > 6 else ''}); they exist before any "
                    f"label, so a strong one is a shortcut, not a leak.")
    return DetectorResult(out, {"title": "Leakage", "text": text, "flagged": {c: e["kind"] for c, e in found.items()}})
