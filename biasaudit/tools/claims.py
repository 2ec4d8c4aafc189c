r"""Claims stated before looking (STATISTICS.md §3.6): the lecture's confirmation-bias guard.

A claim is ``never``, ``always`` or ``can`` a label value within a cell::

    never species=DOG where size=small, color=white
    always species=CAT where size=small
    can species=CAT where color_count=2

* ``never L where C`` is CONTRADICTED by any row of C labelled L (the counter-example ids are
  listed); otherwise it is the depletion test of L in C, one-sided hypergeometric, with the
  intersection-union maximum over the parents of C (the same test as the scan, §3.2):
  :math:`p = \max(F_H(obs; n, n_L, s), \max_P F_H(obs; s_P, n_{L,P}, s))`.
* ``always L where C`` is CONTRADICTED by any row of C with another label; otherwise it is the
  purity test :math:`P(X \ge s) = \binom{n_L}{s}/\binom{n}{s}` (``hypergeom.pmf(s, n, n_L, s)``),
  IUT over parents as well. For a binary label it equals ``never L' where C``.
* ``can L where C`` is an existence claim: SUPPORTED by one row (no test applies), reported
  with the Clopper-Pearson interval of the share of L examples that have C.

The ``never`` / ``always`` claims of one call form their own family, corrected with Holm
(``stats.adjust_pvalues(method="holm")``) after Tarone's filter: a claim whose smallest
attainable p exceeds alpha cannot be supported at this n and is "not established" with the rows
a table of the same proportions would need. Claims must be registered *before* the scan to
deserve this family; a claim formed after seeing a scan is an exploratory finding (§12).

References
----------
Holm, S. (1979). Scand. J. Statist. 6, 65-70. Berger, R. L. (1982). Technometrics 24, 295-300.
Tarone, R. E. (1990). Biometrics 46, 515-522. Clopper, C. J. & Pearson, E. S. (1934). Biometrika 26.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Mapping

import numpy as np

from .. import stats
from ..engine.counts import encode
from ..errors import ColumnError, DataError
from ..findings import jsonable
from ..loaders import load
from ..engine.roles import resolve

__all__ = ["Claim", "ClaimResult", "parse_claim", "check_claim", "check_claims", "VERDICTS", "KINDS"]

KINDS = ("never", "always", "can")
VERDICTS = ("supported", "contradicted", "not established")
_MAX_IDS = 20
_CLAIM = re.compile(r"^\s*(never|always|can)\s+(.+?)(?:\s+(?:where|when|with|if)\s+(.+?))?\s*$", re.I | re.S)
_SPLIT = re.compile(r"\s*(?:,|;|\band\b)\s*(?=[^=,;]+=)")


@dataclass(frozen=True)
class Claim:
    """A parsed claim: ``kind`` ``label``=``value`` where ``cell``."""

    kind: str
    value: str
    cell: Mapping[str, str]
    label: str | None = None
    text: str = ""

    def to_dict(self) -> dict:
        return {f.name: jsonable(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class ClaimResult:
    """The answer to one claim.

    ``verdict`` is "supported", "contradicted" or "not established". ``observed`` counts the rows
    of C labelled ``label_value`` (for ``always``: rows with another label are the
    ``counter_examples``). ``ci_low``/``ci_high``: for ``can`` the Clopper-Pearson interval of
    the share of ``label_value`` examples with C; otherwise the one-sided 95 % upper bound of the
    share of offending rows in C (``1 - alpha^(1/s)`` when there are none).
    """

    claim: str
    kind: str
    label: str
    label_value: str
    cell: Mapping[str, str]
    verdict: str
    message: str
    n: int
    support: int
    observed: int
    expected: float | None = None
    p_value: float | None = None
    p_overall: float | None = None
    p_min: float | None = None
    p_adjusted: float | None = None
    testable: bool = False
    in_family: bool = False
    ci_low: float | None = None
    ci_high: float | None = None
    counter_examples: tuple = ()
    n_counter_examples: int = 0
    rows_needed: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {f.name: jsonable(getattr(self, f.name)) for f in fields(self)}


def _unquote(v: str) -> str:
    v = v.strip()
    return v[1:-1] if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"" else v


def _pair(text: str, what: str, claim: str) -> tuple[str, str]:
    if "=" not in text:
        raise DataError(f"Cannot read {what} {text!r} in claim {claim!r}; write it as attribute=value.")
    k, v = text.split("=", 1)
    k, v = _unquote(k), _unquote(v)
    if not k or not v:
        raise DataError(f"Cannot read {what} {text!r} in claim {claim!r}; write it as attribute=value.")
    return k, v


def parse_claim(claim: str | Mapping) -> Claim:
    """Read ``"never species=DOG where size=small, color=white"`` (or a dict with keys
    ``kind``, ``label`` (``"species=DOG"`` or ``"DOG"``), optional ``label_column`` and ``where``)."""
    if isinstance(claim, Claim):
        return claim
    if isinstance(claim, Mapping):
        kind = str(claim.get("kind", "")).lower()
        lab = claim.get("label", claim.get("value"))
        where = dict(claim.get("where", claim.get("cell", {})) or {})
        col = claim.get("label_column")
        if lab is None:
            raise DataError("A claim dict needs 'kind', 'label' and optionally 'where'.")
        lab = str(lab)
        if col is None and "=" in lab:
            col, lab = _pair(lab, "the label", str(dict(claim)))
        text = f"{kind} {col + '=' if col else ''}{lab}" + (
            " where " + ", ".join(f"{k}={v}" for k, v in where.items()) if where else "")
        parsed = Claim(kind=kind, value=str(lab), cell={str(k): str(v) for k, v in where.items()},
                       label=col, text=text)
    else:
        m = _CLAIM.match(str(claim))
        if m is None:
            raise DataError(f"Cannot read the claim {claim!r}. Write it as '<never|always|can> "
                            f"label=value where attribute=value, ...', e.g. 'never species=DOG where size=small'.")
        kind, lab, where = m.group(1).lower(), m.group(2).strip(), m.group(3)
        col = None
        if "=" in lab:
            col, lab = _pair(lab, "the label", claim)
        cell = {}
        for part in _SPLIT.split(where.strip()) if where else []:
            if part:
                k, v = _pair(part, "the condition", claim)
                if k in cell:
                    raise DataError(f"Attribute {k!r} appears twice in claim {claim!r}.")
                cell[k] = v
        parsed = Claim(kind=kind, value=_unquote(lab), cell=cell, label=col, text=str(claim).strip())
    if parsed.kind not in KINDS:
        raise DataError(f"The kind of a claim must be one of {', '.join(KINDS)}. Got {parsed.kind!r} instead.")
    return parsed


def check_claim(data, claim: str | Mapping, *, label: str | None = None, alpha: float = 0.05,
                **kwargs) -> ClaimResult:
    """Check one claim (a family of one); see :func:`check_claims`."""
    return check_claims(data, [claim], label=label, alpha=alpha, **kwargs)[0]


def check_claims(data, claims: Iterable[str | Mapping], *, label: str | None = None,
                 alpha: float = 0.05, ids: Iterable[str] | None = None,
                 multi: Mapping[str, str | None] | None = None, weight: str | None = None,
                 bins: int | None = None, max_levels: int = 50, model: str = "iut",
                 n_bins: int | None = None) -> list[ClaimResult]:
    """Check claims stated in advance, Holm-corrected as their own family (module docstring).

    Parameters
    ----------
    data : pandas.DataFrame or path
    claims : iterable of str or dict
        e.g. ``"never species=DOG where size=small, color=white"``.
    label : str, optional
        Label column for claims that name only a value (``"never DOG where ..."``); otherwise
        inferred as in :func:`biasaudit.audit`.
    alpha : float
        Family-wise error rate of the claims (Holm).
    ids, multi, weight, bins, max_levels :
        As in :func:`biasaudit.audit` (counter-examples are named by the first id column).
    model : {"iut", "overall"}
        "iut" (default): the claim must beat every parent cell as well (§3.2); "overall": the
        label is compared with its overall rate only.

    Returns
    -------
    list of ClaimResult, in the order given.
    """
    from ..validation import renamed
    n_bins = renamed(bins, n_bins, old="n_bins", new="bins", where="check_claims", default=5)
    if not 0 < alpha < 1:
        raise ValueError(f"The 'alpha' parameter of check_claims must be in (0, 1). Got {alpha!r} instead.")
    if model not in ("iut", "overall"):
        raise ValueError(f"The 'model' parameter of check_claims must be 'iut' or 'overall'. Got {model!r} instead.")
    parsed = [parse_claim(c) for c in claims]
    if not parsed:
        return []
    raw = load(data)
    prepared: dict = {}
    partial = []
    for c in parsed:
        col = c.label or label
        if col not in prepared:
            frame, roles = resolve(raw, label=col, ids=ids, multi=multi, weight=weight, n_bins=n_bins,
                                   max_levels=max_levels)
            table = encode(frame, (roles.label,) + roles.attributes, weight=roles.weight)
            prepared[col] = (raw, frame, roles, table)
        partial.append(_evaluate(c, *prepared[col], alpha=alpha, model=model))
    family = [i for i, r in enumerate(partial) if r["in_family"]]
    q = stats.adjust_pvalues(np.array([partial[i]["p_value"] for i in family]), "holm") if family else []
    q_of = dict(zip(family, (float(x) for x in q)))
    m_tests = sum(1 for r in partial if r["kind"] != "can")
    return [_finish(r, q_of.get(i), alpha, m_tests) for i, r in enumerate(partial)]


def _close(name: str, options, what: str) -> str:
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(map(str, list(options)[:15])) + (" ..." if len(options) > 15 else "")
    return f"{what} {name!r} not found.{hint} Known: {shown}."


def _counts(table, roles, cell: Mapping[str, str]) -> np.ndarray:
    """Label counts of a cell from one contingency table (empty cell: the whole data)."""
    attrs = list(cell)
    t = table.count(*attrs, roles.label)
    idx = tuple(t.levels[j].index(cell[a]) for j, a in enumerate(attrs))
    return np.rint(t.counts[idx]).astype(np.int64)


def _evaluate(c: Claim, raw, frame, roles, table, *, alpha: float, model: str) -> dict:
    levels = table.levels[roles.label]
    if c.value not in levels:
        raise DataError(_close(c.value, levels, f"Label value of {roles.label!r}"))
    for a, v in c.cell.items():
        if a == roles.label:
            raise DataError(f"The claim {c.text!r} conditions on the label {a!r}; name attributes after 'where'.")
        if a not in table.codes:
            raise ColumnError(_close(a, roles.attributes, "Attribute"))
        if v not in table.levels[a]:
            raise DataError(_close(v, table.levels[a], f"Value of {a!r}"))
    L = levels.index(c.value)
    total = _counts(table, roles, {})
    cnt = _counts(table, roles, c.cell)
    n, n_l, s = int(total.sum()), int(total[L]), int(cnt.sum())
    parents = []
    if model == "iut" and len(c.cell) > 1:
        for a in c.cell:
            pc = _counts(table, roles, {b: v for b, v in c.cell.items() if b != a})
            parents.append((" and ".join(f"{b}={v}" for b, v in c.cell.items() if b != a), int(pc.sum()), pc))
    obs = int(cnt[L])
    out = {"claim": c.text, "kind": c.kind, "label": roles.label, "label_value": c.value,
           "cell": dict(c.cell), "n": n, "support": s, "observed": obs, "n_label": n_l,
           "expected": s * n_l / n if n else None, "in_family": False, "p_value": None,
           "p_overall": None, "p_min": None, "testable": False, "counter_examples": (),
           "n_counter_examples": 0, "details": {}}
    if c.kind == "can":
        lo, hi = stats.clopper_pearson_ci(obs, n_l, alpha)
        if obs == 0:  # one-sided bound, as for every zero (STATISTICS.md §3.4)
            lo, hi = 0.0, stats.zero_upper_bound(n_l, alpha)
        out.update(ci_low=lo, ci_high=hi, details={"share_of_label": obs / n_l if n_l else None,
                                                   "share_in_cell": obs / s if s else None})
        return out
    upper = c.kind == "always"
    mask = table.mask(**c.cell) if c.cell else np.ones(table.n_rows, dtype=bool)
    y = table.codes[roles.label]
    bad_mask = mask & ((y != L) if upper else (y == L))
    n_bad = int(bad_mask.sum())
    p_over, _ = stats.one_sided_p(obs, s, n_l, n, upper)
    models = {"overall": {"expected": s * n_l / n if n else None, "p_value": p_over}}
    for text, sp, pc in parents:
        p_p, _ = stats.one_sided_p(obs, s, int(pc[L]), sp, upper)
        models[f"given {text}"] = {"expected": s * int(pc[L]) / sp if sp else None, "p_value": p_p}
    margins = [(sp, int(pc[L])) for _, sp, pc in parents]
    p_min = stats.iut_p_min(s, n_l, n, margins, upper)
    p = stats.iut_p(obs, s, n_l, n, margins, upper)
    ub = float(stats.clopper_pearson_upper(n_bad, s, alpha)[0])
    out.update(p_value=float(p), p_overall=float(p_over), p_min=float(p_min), testable=p_min <= alpha,
               in_family=bool(p_min <= alpha and s > 0), ci_low=0.0, ci_high=ub,
               n_counter_examples=n_bad, counter_examples=_ids(raw, frame, roles, bad_mask),
               details={"models": models, "parents": [t for t, _, _ in parents], "model": model,
                        "vector": [obs, s, n_l, n] + [x for _, sp, pc in parents for x in (sp, int(pc[L]))],
                        "upper": upper})
    return out


def _ids(raw, frame, roles, mask) -> tuple:
    rows = np.flatnonzero(mask)[:_MAX_IDS]
    if roles.ids:
        return tuple(jsonable(v) for v in frame[roles.ids[0]].to_numpy()[rows])
    label_ok = np.flatnonzero(raw[roles.label].notna().to_numpy())
    return tuple(jsonable(raw.index[label_ok[r]]) for r in rows)


def _rows_needed(r: dict, alpha: float) -> int | None:
    vec = r["details"]["vector"]
    upper = r["details"]["upper"]

    def p_of(v):
        v = [int(x) for x in v]
        return stats.iut_p(v[0], v[1], v[2], v[3], list(zip(v[4::2], v[5::2])), upper)

    return stats.rows_needed(np.array(vec), p_of, alpha=alpha, n0=r["n"])


def _finish(r: dict, q: float | None, alpha: float, m_tests: int) -> ClaimResult:
    cell = " and ".join(f"{a}={v}" for a, v in r["cell"].items()) or "any value"
    name, s, obs = r["label_value"], r["support"], r["observed"]
    rows_needed = None
    if r["kind"] == "can":
        if obs > 0:
            verdict = "supported"
            msg = (f"Supported: {obs} of {r['n_label']} {name} examples have {cell} (95% CI "
                   f"{r['ci_low']:.3g}-{r['ci_high']:.3g}); one correctly labelled example proves existence")
        else:
            verdict = "not established"
            msg = (f"Not established: no {name} example has {cell} (0 of {r['n_label']}; at most "
                   f"{r['ci_high']:.3g} of {name} examples, 95% upper bound); absence here does not prove "
                   f"impossibility")
    elif r["n_counter_examples"]:
        verdict = "contradicted"
        shown = ", ".join(map(str, r["counter_examples"]))
        more = f" and {r['n_counter_examples'] - len(r['counter_examples'])} more" \
            if r["n_counter_examples"] > len(r["counter_examples"]) else ""
        what = f"not {name}" if r["kind"] == "always" else name
        msg = (f"Contradicted: {r['n_counter_examples']} example(s) with {cell} are {what} "
               f"({shown}{more})")
    elif s == 0:
        verdict = "not established"
        msg = f"Not established: no example has {cell} at all, so the data cannot speak to it"
    else:
        say = (f"every example with {cell} is {name} ({s} of {s}; {s - r['expected']:.3g} of other labels "
               f"expected at the base rate" if r["kind"] == "always" else
               f"no example with {cell} is {name} (0 of {s}; {r['expected']:.3g} expected at the base rate")
        models = r["details"]["models"]
        if len(models) > 1:
            key = max(models, key=lambda k: models[k]["p_value"])
            say += f"; decisive p={r['p_value']:.3g} {key}" if key != "overall" else ""
        say += ")"
        if q is not None and q <= alpha:
            verdict = "supported"
            msg = f"Supported: {say}; p={r['p_value']:.3g}, Holm-adjusted over {m_tests} claim(s) {q:.3g}"
        else:
            verdict = "not established"
            rows_needed = _rows_needed(r, alpha / max(1, m_tests))
            why = (f"even a perfect pattern could not reach p <= {alpha:g}: the smallest attainable p is "
                   f"{r['p_min']:.3g}" if not r["testable"] else
                   f"p={r['p_value']:.3g}" + (f", Holm-adjusted {q:.3g}" if q is not None else ""))
            need = f"; about {rows_needed:,} rows with the same proportions would establish it" \
                if rows_needed else ""
            msg = f"Not established: {say}, but {r['n']} rows cannot show it is more than chance ({why}){need}"
    d = {k: v for k, v in r.items() if k not in ("n_label",)}
    details = dict(d.pop("details"))
    details.pop("vector", None)
    details.pop("upper", None)
    details["n_label"] = r["n_label"]
    return ClaimResult(message=msg, verdict=verdict, p_adjusted=q, rows_needed=rows_needed, details=details,
                       **{k: v for k, v in d.items()})
