"""The two families of a scan and its hypotheses (STATISTICS.md §1.3, v0.2).

* **Primary**: the hypotheses about the sensitive attributes the user named before the scan
  (``sensitive=`` / ``-s`` / config): each named attribute's association with the label and its
  groups' rates, the association of each pair of named attributes (their intersection), the
  conditional checks of one named attribute by another, and prediction disparities.  They are
  pre-declared, so they are corrected on their own (Holm by default).  Rates of single
  intersection cells, triples and coverage cells are follow-ups in the exploratory family.
* **Exploratory**: every other hypothesis of the scan (Benjamini-Hochberg by default).
* **One hypothesis, one test**: findings that share :attr:`Finding.hypothesis` are views of one
  null hypothesis; it enters its family once (:func:`hypotheses`).

Without named attributes there is only the exploratory family; :func:`families_section` says so and
lists the attributes whose names suggest a protected characteristic, in wording only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..findings import Finding

__all__ = ["PRIMARY", "EXPLORATORY", "PRIMARY_BIAS_TYPES", "PROTECTED_TERMS", "Hypothesis", "assign_families",
           "hypotheses", "table_signature", "candidate_attributes", "families_section", "NO_NAMED_NOTE"]

PRIMARY = "primary"
EXPLORATORY = "exploratory"

#: Bias types whose findings about named sensitive attributes form the primary family.
PRIMARY_BIAS_TYPES = ("group_attribution", "overgeneralization", "prediction_disparity")

#: Words (whole tokens of a column name) and word stems that suggest a protected characteristic
#: (EU Charter art. 21, US Civil Rights Act title VII, ECOA).  Used in wording only.
PROTECTED_TERMS = ("sex", "gender", "male", "female", "race", "racial", "age", "dob", "birth", "religion",
                   "faith", "nationality", "citizenship", "country", "foreign", "immigrant", "disability",
                   "disabled", "handicap", "marital", "married", "pregnancy", "pregnant", "orientation",
                   "ethnicity", "ethnic", "caste", "skin", "veteran", "ancestry", "origin")
_STEMS = ("ethnic", "relig", "nation", "citizen", "disab", "marri", "marit", "pregnan", "immigra", "gender")

#: The note of a scan without named sensitive attributes (the report's first lines print it).
NO_NAMED_NOTE = ("No sensitive attribute named: every hypothesis is in one exploratory family "
                 "(corrected together), so a gap on a protected attribute competes with every other test. "
                 "Name the attributes your question is about (-s ATTR, sensitive=[...]) to test them first, "
                 "on their own.")


def _tokens(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(name))
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]


def candidate_attributes(columns: Iterable[str]) -> list[str]:
    """Columns whose names suggest a protected characteristic (sex, race, age, religion ...).

    Only a suggestion for the report's wording ("name them with -s"); never used in the statistics.

    >>> candidate_attributes(["age_cat", "priors_count", "race", "Male", "page", "foreign_worker"])
    ['age_cat', 'race', 'Male', 'foreign_worker']
    """
    out = []
    for c in columns:
        toks = _tokens(c)
        if any(t in PROTECTED_TERMS or t.startswith(_STEMS) for t in toks):
            out.append(str(c))
    return out


#: Pre-declared questions about the named attributes: each attribute's association with the label and
#: its groups' rates, the association of each pair of them (their intersection), the checks of one
#: named attribute by another (CMH), and prediction disparities.  The rates of single intersection
#: cells, triples and coverage cells are follow-ups: they go to the exploratory family, so that a
#: handful of pre-declared hypotheses keeps its power (Holm over 96 hypotheses for three named
#: attributes left a 7-point gap at p = 0.017 with an adjusted p of 1).
MAX_PRIMARY_ATTRIBUTES = 2
_FOLLOW_UP_KINDS = ("intersection_rate",)


def _is_primary_question(f: Finding) -> bool:
    if f.bias_type not in PRIMARY_BIAS_TYPES or f.kind in _FOLLOW_UP_KINDS:
        return False
    if f.bias_type == "overgeneralization" and len(f.attributes) > 1:
        return False
    return len(f.attributes) <= MAX_PRIMARY_ATTRIBUTES


def _is_named(column: str, named: set, roles) -> bool:
    return column in named or (roles is not None and roles.parent(column) in named)


def assign_families(findings: list[Finding], named: Iterable[str] | None, roles=None) -> list[Finding]:
    """Set :attr:`Finding.family` of every finding.

    A finding in the multiple-testing family (``in_family``) is ``"primary"`` when the user named
    sensitive attributes, its bias type is one of ``PRIMARY_BIAS_TYPES`` and every one of its
    attributes is named (a derived indicator counts as its source column); otherwise
    ``"exploratory"``.  Findings outside every family get None.  Views of one hypothesis never
    straddle the two families: if any view is primary, all are.
    """
    named_set = {str(c) for c in (named or ())}
    out = []
    for f in findings:
        if not f.in_family:
            fam = None
        elif (named_set and _is_primary_question(f) and f.attributes
              and all(_is_named(str(a), named_set, roles) for a in f.attributes)):
            fam = PRIMARY
        else:
            fam = EXPLORATORY
        out.append(f if f.family == fam else f.evolve(family=fam))
    primary_keys = {f.hypothesis for f in out if f.family == PRIMARY and f.hypothesis}
    if primary_keys:
        out = [f.evolve(family=PRIMARY) if f.family == EXPLORATORY and f.hypothesis in primary_keys else f
               for f in out]
    return out


@dataclass(frozen=True)
class Hypothesis:
    """One null hypothesis of a family and the findings (views) that rest on it.

    Its p-value is the largest of its views' p-values: each view is a valid test of the same null,
    and the largest is conservative whichever was looked at first (no test shopping).  It is
    testable only when every view is (Tarone: its smallest attainable p is the largest view's).
    """

    key: str
    family: str
    members: tuple  # indices into the findings list
    p_value: float | None
    testable: bool
    effect_level: int
    pattern: bool


def _key(f: Finding) -> str:
    return f.hypothesis if f.hypothesis else f"finding:{f.id}"


_FLIP = {"less": "greater", "greater": "less", "two-sided": "two-sided"}
#: Bias types whose findings test a table of (their attributes) x label.
_TABLE_BIAS_TYPES = ("group_attribution", "overgeneralization")


def table_signature(f: Finding):
    """The table a finding tests, in a form equal for every view of the same test; None if unknown.

    Two findings have the same signature when they are about the same columns and test the same
    count table (a 2 x 2 up to swapping its rows or columns, a one-sided alternative flipping with
    each swap) with the same alternative: the association of a two-level attribute, its group-rate
    test, and its one-way cell in the coverage scan are then one hypothesis whatever keys the
    detectors gave them.  Only group attribution and coverage findings are compared this way: their
    table is always (their attributes) x label; other detectors' tables involve columns outside
    ``attributes`` (a missingness indicator, a proxy's target), so equal counts there do not make
    one hypothesis.
    """
    if f.bias_type not in _TABLE_BIAS_TYPES:
        return None
    if f.table is None or not f.attributes:
        return None
    t = np.asarray(f.table, dtype=float)
    if not np.all(np.isfinite(t)):
        return None
    alt = f.alternative
    if alt not in _FLIP:
        return None
    cols = tuple(sorted(str(a) for a in f.attributes))
    if t.shape == (2, 2):
        views = []
        for rows in (False, True):
            for cols_ in (False, True):
                u = t[::-1] if rows else t
                u = u[:, ::-1] if cols_ else u
                a = _FLIP[alt] if rows != cols_ else alt
                views.append((tuple(np.round(u, 9).ravel().tolist()), a))
        return (cols, "2x2") + min(views)
    return (cols, t.shape, tuple(np.round(t, 9).ravel().tolist()), alt)


def hypotheses(findings: list[Finding]) -> list[Hypothesis]:
    """Group the in-family findings into hypotheses, in order of first appearance.

    Two findings are views of one hypothesis when they share :attr:`Finding.hypothesis` or test the
    same table (:func:`table_signature`); a finding with neither is its own hypothesis.  Views never
    straddle families (:func:`assign_families` makes them agree).  The effect level of a hypothesis
    is the largest of its views' (each measures the same table; STATISTICS.md §1.4 takes the larger
    of two levels).
    """
    idx = [i for i, f in enumerate(findings) if f.in_family]
    parent = {i: i for i in idx}

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict = {}
    for i in idx:
        f = findings[i]
        fam = f.family or EXPLORATORY
        for label in ((fam, "key", _key(f)), (fam, "table", table_signature(f))):
            if label[2] is None:
                continue
            if label in first:
                a, b = find(first[label]), find(i)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                first[label] = i
    groups: dict = {}
    for i in idx:
        groups.setdefault(find(i), []).append(i)
    out = []
    for root in sorted(groups):
        members = groups[root]
        views = [findings[i] for i in members]
        ps = [v.p_value for v in views if v.p_value is not None and v.p_value == v.p_value]
        p = max(ps) if ps else None
        out.append(Hypothesis(key=_key(findings[root]), family=findings[root].family or EXPLORATORY,
                              members=tuple(members), p_value=p,
                              testable=p is not None and all(v.testable for v in views),
                              effect_level=max(int(v.effect_level) for v in views),
                              pattern=any(v.pattern for v in views)))
    return out


def families_section(findings: list[Finding], settings, named: Iterable[str] | None, roles=None) -> dict:
    """What the report's first lines say about the families: names, sizes, corrections, merged views.

    Counts rest on the graded findings (hidden ones included), so they match the grading.
    """
    from .method import CORRECTIONS
    named = [str(c) for c in (named or ())]
    hyps = hypotheses(findings)
    out: dict = {"named": named}
    for fam, method in ((PRIMARY, settings.primary_correction), (EXPLORATORY, settings.correction)):
        hs = [h for h in hyps if h.family == fam]
        if fam == PRIMARY and not named:
            out[fam] = None
            continue
        out[fam] = {
            "size": len(hs),
            "n_testable": sum(1 for h in hs if h.testable),
            "n_views": sum(len(h.members) for h in hs),
            "n_shared": sum(1 for h in hs if len(h.members) > 1),
            "correction": method,
            "correction_name": CORRECTIONS[method],
            "n_established": sum(1 for h in hs if any(findings[i].established for i in h.members)),
        }
    out["n_shared"] = sum(1 for h in hyps if len(h.members) > 1)
    out["n_views_merged"] = sum(len(h.members) - 1 for h in hyps if len(h.members) > 1)
    if named:
        size = out[PRIMARY]["size"]
        out["note"] = (f"Primary family: {size} {'hypothesis' if size == 1 else 'hypotheses'} about "
                       f"{', '.join(named)}, named before the scan and corrected on their own "
                       f"({CORRECTIONS[settings.primary_correction]}); everything else is exploratory "
                       f"({CORRECTIONS[settings.correction]}).")
        out["candidates"] = []
    else:
        columns = [a for a in (roles.attributes if roles is not None else ())
                   if roles is None or roles.parent(a) == a]
        out["candidates"] = candidate_attributes(columns)
        out["note"] = NO_NAMED_NOTE + (
            f" Attributes whose names suggest a protected characteristic: {', '.join(out['candidates'])}."
            if out["candidates"] else "")
    return out
