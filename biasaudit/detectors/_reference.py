"""Reading and checking a reference population for the selection detector (STATISTICS.md §2.1-2.2).

A reference gives the share of every value of an attribute in the population the sample should
represent (census margins, a registry, the pre-selection population).  Accepted forms:

* **long** (the CSV of ``--reference``): columns ``attribute, value, share``, one row per value.
  A *joint* reference over several attributes joins their names and values with ``|``:
  ``attribute = "age|sex"``, ``value = "18-25|female"``.  One file may hold several
  attributes and joints; the shares of each ``attribute`` must sum to 1.
* **wide** joint table: one column per attribute plus ``share`` (e.g.
  :func:`biasaudit.simulate.reference_dogs_cats_joint`), read as one joint over those columns.
* a mapping ``{attribute: {value: share}}`` (a joint key is ``"a|b"`` with values ``"x|y"``).

Rules (every violation is a :class:`~biasaudit.errors.DataError` that says what to fix):
shares are finite and non-negative; the shares of one attribute sum to 1 (renormalised with a
note when they are off by at most 1 %); no (attribute, value) appears twice; every attribute is a
column of the data (close matches suggested) and not an id or the weight; a joint names each
attribute once and every value has one part per attribute; at least one value of every
attribute occurs in the data (otherwise the coding differs).  A reference value that matches a
data value only up to case or surrounding spaces is mapped onto it, with a note.  A share of 0
declares a *structural zero*: rows there are impossible under the reference.

Numeric attributes: the reference values must be the bin labels of the audit (``[lo, hi)``) or
the raw values of the column (e.g. every integer age); otherwise bin the column in the data
first, so that data and reference use the same categories.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from ..engine.counts import CodedTable, encode_column
from ..errors import DataError
from ..engine.roles import MISSING, _as_text, _missing_column

__all__ = ["JOINT_SEP", "RENORMALISE_TOL", "REFERENCE_PATH_ERROR", "ReferenceSpec", "reference_table",
           "parse_reference", "observed_cells"]

#: Separator of attribute names and of values in a joint reference.
JOINT_SEP = "|"
#: Shares of one attribute that sum to within this of 1 are renormalised (with a note).
RENORMALISE_TOL = 0.01
_EXACT_TOL = 1e-6


@dataclass(frozen=True)
class ReferenceSpec:
    """The reference distribution of one attribute or one joint of attributes.

    Attributes
    ----------
    attributes : tuple of str
        Data columns, one for a margin, several for a joint.
    values : tuple of tuple of str
        One tuple (one part per attribute) per reference cell.
    shares : tuple of float
        Population share of each cell (sum 1; 0 marks a structural zero).
    notes : tuple of str
        What was adjusted (renormalisation, value mapping) or assumed (independence).
    product_of_margins : bool
        A joint reference whose shares are the product of its margins (assumes independence).
    """

    attributes: tuple
    values: tuple
    shares: tuple
    notes: tuple = field(default_factory=tuple)
    product_of_margins: bool = False

    @property
    def key(self) -> str:
        return JOINT_SEP.join(self.attributes)

    @property
    def joint(self) -> bool:
        return len(self.attributes) > 1

    def label(self, value: tuple) -> str:
        return JOINT_SEP.join(value)

    def to_dict(self) -> dict:
        return {"attributes": list(self.attributes), "values": [self.label(v) for v in self.values],
                "shares": list(self.shares), "notes": list(self.notes),
                "product_of_margins": self.product_of_margins}


# ----------------------------------------------------------------------------- reading
#: Message when a file path reaches the parser: reading files is the caller's job (loaders, CLI, config).
REFERENCE_PATH_ERROR = ("The reference must be a table (a DataFrame with columns attribute, value, share, a wide "
                        "joint table with a share column, or a mapping {{attribute: {{value: share}}}}), not the "
                        "path {path!r}: read the file first with biasaudit.load(path) (the CLI and config files do).")


def reference_table(reference, *, attribute: str | None = None) -> pd.DataFrame:
    """The one parser of reference shares: any accepted form as a checked long table.

    A plain function of a table (no file reading): the CLI, config files, ``assert_representation``,
    the raking tool and the selection detector all parse reference shares here.

    Parameters
    ----------
    reference : DataFrame or mapping
        Long (attribute, value, share), wide joint (one column per attribute plus share), or
        ``{attribute: {value: share}}``; with ``attribute`` given, also ``{value: share}``.
    attribute : str, optional
        Keep only this attribute's rows (a ``DataError`` when it has none).

    Returns
    -------
    DataFrame
        Columns attribute, value (text, stripped) and share (float), one row per (attribute, value).

    Raises
    ------
    DataError
        A path (``REFERENCE_PATH_ERROR``), a missing or extra column, an empty attribute or value,
        a non-finite or negative share, a duplicated value, or no rows for ``attribute``.
    """
    import os
    if isinstance(reference, (str, bytes, os.PathLike)):
        raise DataError(REFERENCE_PATH_ERROR.format(path=str(reference)))
    if isinstance(reference, Mapping) and attribute is not None and reference and \
            not isinstance(next(iter(reference.values())), Mapping):
        reference = {attribute: reference}
    out = _long(reference)
    if attribute is not None:
        out = out[out["attribute"] == str(attribute)].reset_index(drop=True)
        if out.empty:
            raise DataError(f"The reference has no rows for attribute {attribute!r}.")
    return out


def _to_long(reference) -> pd.DataFrame:
    """Deprecated private name of :func:`reference_table` (kept for callers not yet switched)."""
    return reference_table(reference)


def _long(reference) -> pd.DataFrame:
    if isinstance(reference, Mapping):
        rows = []
        for attr, values in reference.items():
            if not isinstance(values, Mapping):
                raise DataError(f"A reference given as a mapping must be {{attribute: {{value: share}}}}; "
                                f"the entry for {attr!r} is a {type(values).__name__}.")
            rows += [(str(attr), v, s) for v, s in values.items()]
        reference = pd.DataFrame(rows, columns=["attribute", "value", "share"])
    if not isinstance(reference, pd.DataFrame):
        raise DataError(f"The reference must be a DataFrame or a mapping. Got {type(reference).__name__} instead.")
    if reference.empty:
        raise DataError("The reference has no rows. Give one row per attribute value with its population share.")
    cols = {str(c).strip().lower(): c for c in reference.columns}
    if "share" not in cols:
        raise DataError(
            "The reference needs a 'share' column: either columns attribute, value, share (one row per "
            f"attribute value) or one column per attribute plus share (joint cells). Got columns "
            f"{', '.join(map(str, reference.columns))}.")
    if "attribute" in cols or "value" in cols:
        absent = [c for c in ("attribute", "value") if c not in cols]
        if absent:
            raise DataError(f"The reference lacks column(s) {', '.join(absent)}: a long reference has columns "
                            f"attribute, value, share. Got columns {', '.join(map(str, reference.columns))}.")
        extra = [c for c in reference.columns if str(c).strip().lower() not in ("attribute", "value", "share")]
        if extra:
            raise DataError(f"The reference has unexpected column(s) {', '.join(map(str, extra))} besides "
                            f"attribute, value, share. Remove them.")
        out = pd.DataFrame({"attribute": _as_text(reference[cols["attribute"]]),
                            "value": _as_text(reference[cols["value"]]),
                            "share": reference[cols["share"]]})
    else:  # wide joint table: one column per attribute, plus share
        attrs = [c for c in reference.columns if c != cols["share"]]
        if not attrs:
            raise DataError("The reference has only a 'share' column; add the attribute column(s).")
        key = JOINT_SEP.join(str(a) for a in attrs)
        texts = [_as_text(reference[a]) for a in attrs]
        joined = texts[0].astype(object)
        for t in texts[1:]:
            joined = joined + JOINT_SEP + t.astype(object)
        out = pd.DataFrame({"attribute": key, "value": joined, "share": reference[cols["share"]]})
    out = out.reset_index(drop=True)
    bad_text = out["attribute"].isna() | out["value"].isna()
    if bad_text.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(bad_text.to_numpy())[:5])
        raise DataError(f"Reference row(s) {rows} have an empty attribute or value. Fill them or drop the rows.")
    out["attribute"] = out["attribute"].map(lambda s: str(s).strip())
    out["value"] = out["value"].map(lambda s: str(s).strip())
    share = pd.to_numeric(out["share"], errors="coerce")
    bad = share.isna() | ~np.isfinite(share.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"Reference shares must be finite numbers; {out['attribute'][i]}={out['value'][i]} has "
                        f"{out['share'][i]!r}.")
    if (share < 0).any():
        i = int(np.flatnonzero((share < 0).to_numpy())[0])
        raise DataError(f"Reference shares must be non-negative; {out['attribute'][i]}={out['value'][i]} has "
                        f"{share[i]:g}.")
    out["share"] = share.astype(float)
    dup = out.duplicated(["attribute", "value"], keep=False)
    if dup.any():
        first = out[dup].iloc[0]
        raise DataError(f"The reference lists {first['attribute']}={first['value']} more than once. Keep one row "
                        f"per value.")
    return out


def _coded(ctx, column: str, values: set) -> tuple[np.ndarray, tuple]:
    """Codes and levels of ``column`` over the audited rows.

    Audited columns come from the coded table.  A numeric attribute whose reference values are
    not its bin labels, and any column the audit left out (constant, free text), are encoded from
    the raw data (rows with a missing label dropped, as in the audit).
    """
    table = ctx.table
    if _counted(ctx, column, values):
        return table.codes[column], table.levels[column]
    raw = ctx.raw
    keep = _as_text(raw[ctx.roles.label]).notna().to_numpy()
    return encode_column(_as_text(raw[column][keep]).reset_index(drop=True))


def _counted(ctx, column: str, values: set) -> bool:
    """True when the reference is on an audited column's own levels: its counts come from ``count()``."""
    levels = ctx.table.levels.get(column)
    return levels is not None and not (ctx.roles.bins.get(column) and not values <= set(levels))


def _check_attribute(ctx, name: str) -> None:
    roles = ctx.roles
    known = set(ctx.table.levels) | {str(c) for c in ctx.raw.columns}
    if name not in known:
        raise _missing_column(name, [c for c in ctx.raw.columns] + [c for c in roles.derived], "Reference attribute")
    if name in roles.ids:
        raise DataError(f"Reference attribute {name!r} is an identifier column; a reference needs a categorical "
                        f"attribute.")
    if roles.weight is not None and name == roles.weight:
        raise DataError(f"Reference attribute {name!r} is the weight column; give the reference for an attribute.")


def _match_values(ref_values: list, data_levels: tuple, attr: str, notes: list) -> list:
    """Map reference values onto data levels exactly, else up to case and spaces (noted)."""
    levels = [l for l in data_levels if l != MISSING]
    exact = set(levels)
    folded: dict = {}
    for l in levels:
        folded.setdefault(l.strip().casefold(), []).append(l)
    out = []
    for v in ref_values:
        if v in exact:
            out.append(v)
            continue
        cands = folded.get(v.strip().casefold(), [])
        if len(cands) == 1:
            notes.append(f"reference value {attr}={v!r} matched to the data's {cands[0]!r} (case / spaces)")
            out.append(cands[0])
        else:
            out.append(v)
    return out


def parse_reference(reference, ctx) -> list[ReferenceSpec]:
    """Check a reference against the data and return one :class:`ReferenceSpec` per attribute / joint.

    Parameters
    ----------
    reference : DataFrame or mapping
        See the module docstring for the accepted forms (:func:`reference_table` parses them).
    ctx : AuditContext

    Raises
    ------
    DataError
        With a message naming the offending attribute, value or share (see module docstring).
    """
    long = reference_table(reference)
    specs = []
    for key in dict.fromkeys(long["attribute"]):
        rows = long[long["attribute"] == key]
        attrs = tuple(a.strip() for a in key.split(JOINT_SEP))
        if len(set(attrs)) != len(attrs) or "" in attrs:
            raise DataError(f"Joint reference attribute {key!r} must name distinct attributes separated by "
                            f"{JOINT_SEP!r}.")
        for a in attrs:
            _check_attribute(ctx, a)
        parts = [tuple(p.strip() for p in v.split(JOINT_SEP)) for v in rows["value"]]
        wrong = [v for v, p in zip(rows["value"], parts) if len(p) != len(attrs)]
        if wrong:
            raise DataError(f"Reference value {wrong[0]!r} of {key!r} must have {len(attrs)} part(s) separated by "
                            f"{JOINT_SEP!r}, one per attribute ({', '.join(attrs)}). Values containing "
                            f"{JOINT_SEP!r} cannot be used in a joint reference.")
        shares = rows["share"].to_numpy(dtype=float)
        total = float(shares.sum())
        notes: list[str] = []
        if abs(total - 1.0) > _EXACT_TOL:
            if abs(total - 1.0) <= RENORMALISE_TOL:
                notes.append(f"shares of {key} summed to {total:.6g}; renormalised to 1")
                shares = shares / total
            else:
                hint = " They look like percentages: divide them by 100." if abs(total - 100) <= 1 else ""
                raise DataError(f"Reference shares of {key!r} sum to {total:.6g}; they must sum to 1 "
                                f"(within {RENORMALISE_TOL:.0%}).{hint}")
        # match values per attribute part, and check each attribute's coding overlaps the data
        columns = []
        for j, a in enumerate(attrs):
            ref_vals = [p[j] for p in parts]
            levels = ctx.table.levels[a] if _counted(ctx, a, set(ref_vals)) else _coded(ctx, a, set(ref_vals))[1]
            mapped = _match_values(ref_vals, levels, a, notes)
            if not set(mapped) & set(levels):
                shown = ", ".join(l for l in levels if l != MISSING)
                shown = shown if len(shown) <= 200 else shown[:200] + " ..."
                raise DataError(f"None of the reference values of {a!r} ({', '.join(sorted(set(ref_vals))[:8])}) "
                                f"occurs in the data, whose values are: {shown}. The reference must use the "
                                f"data's coding.")
            parts = [p[:j] + (m,) + p[j + 1:] for p, m in zip(parts, mapped)]
            columns.append(a)
        if len(set(parts)) != len(parts):
            raise DataError(f"Two reference values of {key!r} map onto the same data value; keep one.")
        product = len(attrs) > 1 and _is_product(parts, shares)
        if product:
            notes.append(f"the joint reference over {', '.join(attrs)} equals the product of its margins: it "
                         f"assumes these attributes are independent in the population, so any dependence "
                         f"in the data shows up as selection")
        specs.append(ReferenceSpec(attrs, tuple(parts), tuple(float(s) for s in shares), tuple(notes), product))
    return specs


def _is_product(parts: list, shares: np.ndarray) -> bool:
    """True when the joint shares equal the product of their margins (to 1e-9)."""
    k = len(parts[0])
    margins = []
    for j in range(k):
        m: dict = {}
        for p, s in zip(parts, shares):
            m[p[j]] = m.get(p[j], 0.0) + s
        margins.append(m)
    given = dict(zip(parts, shares))
    n_cells = math.prod(len(m) for m in margins)
    if n_cells > 100_000:
        return False
    for p in np.ndindex(*[len(m) for m in margins]):
        cell = tuple(list(margins[j])[i] for j, i in enumerate(p))
        prod = math.prod(margins[j][cell[j]] for j in range(k))
        if abs(given.get(cell, 0.0) - prod) > 1e-9:
            return False
    return True


def observed_cells(ctx, spec: ReferenceSpec) -> tuple[dict, float]:
    """Counts of every observed combination of ``spec.attributes`` and the rows with a missing part.

    Returns
    -------
    counts : dict
        value tuple -> count (only combinations without a missing part, count > 0).
    n_missing : float
        Rows (or weight) with a missing value in any of the attributes.
    """
    ref_values = [set(v[j] for v in spec.values) for j in range(len(spec.attributes))]
    if all(_counted(ctx, a, ref_values[j]) for j, a in enumerate(spec.attributes)):
        t = ctx.table.count(*spec.attributes)       # audited columns: a count table, no rows read
    else:
        # a numeric column whose reference lists raw values, or a column the audit left out: these
        # need the raw values (rows), which only the in-memory table holds
        codes, levels = {}, {}
        for j, a in enumerate(spec.attributes):
            codes[a], levels[a] = _coded(ctx, a, ref_values[j])
        t = CodedTable(codes, levels, ctx.table.weights).count(*spec.attributes)
    counts: dict = {}
    n_missing = 0.0
    for idx in zip(*np.nonzero(t.counts)):
        value = tuple(t.levels[j][i] for j, i in enumerate(idx))
        c = t.counts[idx]
        if MISSING in value:
            n_missing += float(c)
        else:
            counts[value] = c.item() if hasattr(c, "item") else c
    return counts, n_missing
