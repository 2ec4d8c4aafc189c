"""What changed between two versions of a dataset (``biasaudit diff old.csv new.csv``).

Both versions are audited with the same settings and their findings matched by stable id:

* **new** / **resolved**: statistically supported (severity low or above) in one version only;
* **worsened** / **improved**: supported in both, with a more / less serious severity (severity
  combines the adjusted p-value and the effect level, STATISTICS.md §1.4);
* **shifted**: the shares of an attribute (or the label) differ between the versions.  This is the
  two-sample test of the shift detector (STATISTICS.md §2.3: the 2 x K table version x level by
  §1.1; Anderson-Darling for numeric columns), its p-values Benjamini-Hochberg adjusted over the
  compared columns.  The test assumes two independent samples; when the new version re-uses rows of
  the old one the samples overlap, which makes the test conservative (shifts are harder to find).

Findings are grouped for reading: coverage **gaps**, **disparities** (group attribution),
**learned rules** (the classifier probe), and the rest by bias type.  Findings on a numeric attribute
whose quantile bins differ between the versions are not matched (their ids name different bins);
the diff says so.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..findings import jsonable
from ..settings import FAIL_ON_LEVELS, severity_rank

__all__ = ["Change", "DatasetDiff", "diff", "CHANGE_KINDS"]

ESTABLISHED = ("critical", "high", "medium", "low")
CHANGE_KINDS = ("new", "worsened", "shifted", "improved", "resolved")
_CATEGORY_ORDER = ("gap", "disparity", "learned rule", "rule", "selection", "reporting", "proxy")
_TITLES = {"gap": "gaps", "disparity": "disparities", "learned rule": "learned rules", "rule": "rules",
           "selection": "selection findings", "reporting": "reporting findings", "proxy": "proxies",
           "share": "group shares"}


@dataclass(frozen=True)
class Change:
    """One difference between the two versions."""

    change: str
    category: str
    id: str
    bias_type: str
    old_severity: str | None
    new_severity: str | None
    old_effect: float | None
    new_effect: float | None
    effect_name: str | None
    message: str

    def to_dict(self) -> dict:
        return jsonable({k: getattr(self, k) for k in self.__dataclass_fields__})


def _category(f) -> str:
    from ..findings import is_coverage_gap
    if is_coverage_gap(f):
        return "gap"
    if f.bias_type == "group_attribution":
        return "disparity"
    if f.bias_type == "learned_rule":
        return "learned rule"
    if f.kind == "rule":
        return "rule"
    return f.bias_type


@dataclass(frozen=True)
class DatasetDiff:
    """The changes between ``old`` and ``new`` (two :class:`~biasaudit.AuditResult`) and the shift audit."""

    old: Any
    new: Any
    shift: Any
    changes: tuple
    notes: tuple = field(default_factory=tuple)

    def by_change(self, change: str) -> list:
        return [c for c in self.changes if c.change == change]

    def at_or_above(self, level: str) -> list:
        """New, worsened and shifted changes whose current severity reaches ``level``."""
        if level not in FAIL_ON_LEVELS:
            raise ValueError(f"fail_on must be one of {', '.join(FAIL_ON_LEVELS)}. Got {level!r} instead.")
        if level == "never":
            return []
        return [c for c in self.changes if c.change in ("new", "worsened", "shifted")
                and severity_rank(c.new_severity) <= severity_rank(level)]

    def to_frame(self) -> pd.DataFrame:
        cols = list(Change.__dataclass_fields__)
        return pd.DataFrame([c.to_dict() for c in self.changes], columns=cols)

    def to_dict(self) -> dict:
        return jsonable({
            "old": {"source": self.old.dataset.get("source"), "n_rows": self.old.dataset.get("n_rows")},
            "new": {"source": self.new.dataset.get("source"), "n_rows": self.new.dataset.get("n_rows")},
            "label": self.new.dataset.get("label"),
            "summary": {k: len(self.by_change(k)) for k in CHANGE_KINDS},
            "changes": [c.to_dict() for c in self.changes],
            "notes": list(self.notes),
        })

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def render_text(self) -> str:
        o, n = self.old.dataset, self.new.dataset
        lines = [f"biasaudit diff: {o.get('source')} ({o.get('n_rows'):,} rows) -> {n.get('source')} "
                 f"({n.get('n_rows'):,} rows), label {n.get('label')}"]
        summary = ", ".join(f"{len(self.by_change(k))} {k}" for k in CHANGE_KINDS)
        lines.append(f"changes: {summary}")
        if not self.changes:
            lines.append("No statistically supported change: nothing new, resolved, worsened, improved or shifted "
                         "(a change too small for these samples to establish may still exist).")
        sections = [(k, cat) for k in ("new", "worsened", "improved", "resolved") for cat in _categories(self)]
        sections.insert(0, ("shifted", "share"))
        for change, cat in sections:
            items = [c for c in self.changes if c.change == change and c.category == cat]
            if not items:
                continue
            lines += ["", f"{change.upper()} {_TITLES.get(cat, cat).upper()}"]
            for c in items:
                sev = (c.new_severity if change in ("new", "shifted") else c.old_severity if change == "resolved"
                       else f"{c.old_severity} -> {c.new_severity}")
                if change == "resolved":
                    sev += f" -> {c.new_severity or 'gone'}"
                lines.append(f"  [{sev}] {c.id}")
                lines.append(f"      {c.message}")
        for note in self.notes:
            lines.append(f"note: {note}")
        return "\n".join(lines) + "\n"


def _categories(d: DatasetDiff) -> list:
    present = {c.category for c in d.changes}
    return [c for c in _CATEGORY_ORDER if c in present] + sorted(present - set(_CATEGORY_ORDER) - {"share"})


def _binned_mismatch(old, new) -> set:
    ob, nb = old.dataset.get("bins") or {}, new.dataset.get("bins") or {}
    return {a for a in set(ob) | set(nb) if list(ob.get(a, [])) != list(nb.get(a, []))}


def _effect(f) -> float | None:
    return None if f is None or f.effect_size is None else float(f.effect_size)


def _leaked(result) -> set:
    """Columns the audit left out as possible leaks."""
    return {c for c, why in (result.dataset.get("excluded") or {}).items() if "leakage" in str(why)}


def diff(old, new, *, label: str | None = None, alpha: float = 0.05, random_state: int = 0, probe: bool = True,
         **settings) -> DatasetDiff:
    """Audit two versions of a dataset and report what changed.

    Parameters
    ----------
    old, new : pandas.DataFrame or path
    label : str, optional
    alpha : float
    random_state : int
    probe : bool
        Run the classifier probe (needed for "newly learned rules").
    **settings
        Other keyword arguments of :func:`biasaudit.audit` (``sensitive``, ``reference`` ...).

    Returns
    -------
    DatasetDiff
    """
    from ..audit.run import audit
    from ..loaders import load
    src = {"old": settings.pop("old_source", None), "new": settings.pop("new_source", None)}
    old_df = load(old)
    new_df = load(new)
    src["old"] = src["old"] or ("DataFrame (old)" if isinstance(old, pd.DataFrame) else str(old))
    src["new"] = src["new"] or ("DataFrame (new)" if isinstance(new, pd.DataFrame) else str(new))
    common = dict(label=label, alpha=alpha, random_state=random_state, probe=probe, **settings)
    a = audit(old_df, source=src["old"], **common)
    b = audit(new_df, source=src["new"], **common)
    # like with like: a column left out as a leak in one version only is kept in both (and said)
    one_side = sorted(_leaked(a) ^ _leaked(b))
    leak_note = None
    if one_side:
        keep = list(dict.fromkeys([*(common.pop("keep", None) or ()), *one_side]))
        common["keep"] = keep
        a = audit(old_df, source=src["old"], **common) if _leaked(a) & set(one_side) else a
        b = audit(new_df, source=src["new"], **common) if _leaked(b) & set(one_side) else b
        leak_note = (f"{', '.join(one_side)}: flagged as a possible leak in one version only; kept in both so that "
                     f"the versions are compared on the same columns.")
    if a.dataset["label"] != b.dataset["label"] or a.dataset["positive"] != b.dataset["positive"]:
        raise ValueError(f"The two versions disagree on the label: {a.dataset['label']}={a.dataset['positive']} vs "
                         f"{b.dataset['label']}={b.dataset['positive']}; pass label= and positive= explicitly.")
    shift_kw = {k: v for k, v in common.items() if k not in ("probe", "reference", "compare", "detectors")}
    shift_kw["label"] = a.dataset["label"]
    s = audit(old_df, compare=new_df, detectors=["shift"], source=src["old"], **{**shift_kw, "probe": False})
    mismatch = _binned_mismatch(a, b)
    notes = [leak_note] if leak_note else []
    if mismatch:
        notes.append(f"quantile bins of {', '.join(sorted(mismatch))} differ between the versions: findings on "
                     f"their bins are not matched (the share shift of the raw values is tested instead).")

    def usable(f) -> bool:
        return f.explained_by is None and not (set(f.attributes) & mismatch)

    before = {f.id: f for f in a.findings if usable(f)}
    after = {f.id: f for f in b.findings if usable(f)}
    changes = []
    for fid in sorted(set(before) | set(after), key=lambda i: _order(after.get(i) or before.get(i))):
        fo, fn = before.get(fid), after.get(fid)
        est_o = fo is not None and fo.severity in ESTABLISHED
        est_n = fn is not None and fn.severity in ESTABLISHED
        if est_n and not est_o:
            kind = "new"
        elif est_o and not est_n:
            kind = "resolved"
        elif est_o and est_n and fn.severity != fo.severity:
            kind = "worsened" if severity_rank(fn.severity) < severity_rank(fo.severity) else "improved"
        else:
            continue
        ref = fn if fn is not None else fo
        msg = _change_message(kind, fo, fn)
        changes.append(Change(change=kind, category=_category(ref), id=fid, bias_type=ref.bias_type,
                              old_severity=fo.severity if fo else None, new_severity=fn.severity if fn else None,
                              old_effect=_effect(fo), new_effect=_effect(fn), effect_name=ref.effect_size_name,
                              message=msg))
    for f in s.findings:
        if f.kind == "shift" and f.severity in ESTABLISHED:
            msg = f.message.replace("this sample", "the old version").replace("the compare sample", "the new version")
            changes.insert(sum(c.change == "shifted" for c in changes),
                           Change(change="shifted", category="share", id=f.id, bias_type=f.bias_type,
                                  old_severity=None, new_severity=f.severity, old_effect=None,
                                  new_effect=_effect(f), effect_name=f.effect_size_name, message=msg))
    return DatasetDiff(old=a, new=b, shift=s, changes=tuple(changes), notes=tuple(notes))


def _order(f):
    return (severity_rank(f.severity), f.id)


def _change_message(kind: str, fo, fn) -> str:
    if kind == "new":
        was = f" (was {fo.severity})" if fo is not None else " (absent before)"
        return fn.message + was
    if kind == "resolved":
        now = f"now {fn.severity}: {fn.message}" if fn is not None else "no longer found"
        return f"{now} (was: {fo.message})"
    eff = ""
    if fo.effect_size is not None and fn.effect_size is not None:
        eff = f" {fo.effect_size_name or 'effect'} {fo.effect_size:.3g} -> {fn.effect_size:.3g};"
    return f"{fo.severity} -> {fn.severity};{eff} now: {fn.message}"
