r"""Weights files, and auditing a table with per-row weights that are not frequency counts.

**Weights file** (written atomically by :func:`write_weights`, read by :func:`read_weight_file`;
``biasaudit reweigh`` writes one, ``biasaudit scan --weight-file`` reads it): a CSV with a
column ``weight`` and, when the data have an identifier column, that column first.  With the
identifier column, rows are matched by identifier (every data row needs exactly one weight; the
file's order does not matter); without it, the file has one weight per data row, in the data's
row order.  Weights are finite and non-negative (0 leaves a row out).  Given together with a
frequency-weight column (``--weight``), the two multiply.

**Auditing with weights** (:func:`weighted_table`): reweighing and raking weights are not
frequency counts, so the tests see counts scaled to Kish's effective sample size
:math:`n_\mathrm{eff} = (\sum w)^2 / \sum w^2` and rounded to integers, a first-order
design-effect correction (Kish 1965; Rao & Scott 1981): weighted rates are exact, and a test
never claims more rows than the weighted data are worth.

References
----------
Kish, L. (1965). Survey Sampling. Wiley.
Rao, J. N. K. & Scott, A. J. (1981). The analysis of categorical data from complex sample
surveys. JASA 76, 221-230.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .counts import CodedTable, CountTable
from ..errors import DataError

__all__ = ["WEIGHT_COLUMN", "WEIGHT_FILE_COLUMN", "kish_n_eff", "write_weights", "read_weight_file",
           "attach_weight_file", "weighted_table", "needs_design_weights", "weight_scale", "MAX_COUNT"]

#: Name of the weight column in a weights file.
WEIGHT_COLUMN = "weight"
#: Column the weights of ``--weight-file`` are put in (a suffix is added if the data have it).
WEIGHT_FILE_COLUMN = "weight_file"
#: Largest total of frequency weights read as counts (2**53: every whole number up to it is exact in float).
MAX_COUNT = float(2 ** 53)


def kish_n_eff(weights) -> float:
    r"""Kish's effective sample size :math:`(\sum w)^2 / \sum w^2` (Kish 1965, eq. 11.7.6).

    Computed on :math:`w / \max w` (the ratio does not change under scaling), so weights near the
    float limits (1e308, 1e-300) neither overflow nor underflow.
    """
    w = np.asarray(weights, dtype=float)
    top = float(np.max(w)) if w.size else 0.0
    if not (top > 0 and np.isfinite(top)):
        return 0.0
    u = w / top
    s2 = float(np.sum(u * u))
    return float(u.sum() ** 2 / s2) if s2 > 0 else 0.0


def needs_design_weights(weights) -> bool:
    """True when per-row weights are not frequency counts: not whole numbers, or summing past :data:`MAX_COUNT`."""
    if weights is None:
        return False
    w = np.asarray(weights, dtype=float)
    with np.errstate(over="ignore"):
        total = float(w.sum())
    return not (np.isfinite(total) and total <= MAX_COUNT) or not np.allclose(w, np.round(w), rtol=1e-9, atol=0)


def weight_scale(t, n_rows: int) -> tuple[bool, float]:
    r"""How a weight column is counted, decided from its pass-one summary (before any weight is summed).

    Parameters
    ----------
    t : TypedColumn
        The weight column's summary (:mod:`biasaudit.engine.coltypes`; numbers or true/false).
    n_rows : int
        Rows read (bounds the total when the distinct weights were not all kept).

    Returns
    -------
    design : bool
        True when the weights are not frequency counts: not whole numbers, or a total that may pass
        :data:`MAX_COUNT` (1e308 each).  The tests then see Kish-scaled counts (module docstring).
    unit : float
        A power of two every weight is divided by before it is summed: 1, unless the sums of the
        weights or of their squares could overflow or underflow (weights of 1e308 or 1e-300).
        Division by a power of two is exact and Kish's scaling :math:`\sum w / \sum w^2` cancels it.
    """
    if t.kind == "bool":
        return False, 1.0
    top = float(t.vmax)
    if not (top > 0 and np.isfinite(top)):
        return (not t.integral), 1.0
    if t.exact and len(t.distinct):  # the exact total, computed on w / max w (no overflow)
        share = float(np.dot(t.distinct.to_numpy(dtype=float) / top, t.kept))
    else:
        share = float(n_rows)  # every weight <= top
    design = (not t.integral) or share > MAX_COUNT / top
    unit = 1.0
    if top < 2.0 ** -500 or top * max(int(n_rows), 1) > 2.0 ** 500:
        unit = float(np.ldexp(1.0, int(np.frexp(top)[1]) - 1))  # top / unit in [1, 2)
    return design, unit


def write_weights(result, path) -> None:
    """Write the weights file (identifier column when there is one, then ``weight``) atomically.

    Identifier values that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``,
    ``@``, tab or CR) are written with a leading ``'`` (OWASP); :func:`read_weight_file` removes it.
    """
    from .._safe import csv_column
    from .._atomic import atomic_write_text
    frame = result.to_frame()
    for c in frame.columns:
        if c != WEIGHT_COLUMN:
            frame[c] = csv_column(frame[c])
    atomic_write_text(path, frame.to_csv(index=False, float_format="%.17g"))


def _unneutralise(keys: np.ndarray, data_keys: np.ndarray) -> np.ndarray:
    """Identifier texts with the ``'`` that :func:`write_weights` put before a formula character removed."""
    from .._safe import FORMULA_PREFIXES
    s = pd.Series(keys, dtype=object)
    marked = s.str.startswith("'", na=False) & s.str[1:2].isin(FORMULA_PREFIXES) & ~s.isin(set(data_keys))
    return s.where(~marked, s.str[1:]).to_numpy()


def read_weight_file(source, data: pd.DataFrame) -> np.ndarray:
    """One weight per row of ``data`` from a weights file (see the module docstring).

    Parameters
    ----------
    source : path or DataFrame
    data : DataFrame
        The data as loaded (before rows with a missing label are dropped).

    Raises
    ------
    DataError
        Missing ``weight`` column, wrong row count, unknown or duplicated identifiers, or
        negative / non-finite weights.
    """
    if isinstance(source, pd.DataFrame):
        wf = source
    else:
        if not Path(source).is_file():
            raise DataError(f"Weight file {str(source)!r} not found. Write one with 'biasaudit reweigh'.")
        wf = pd.read_csv(source)
    cols = {str(c).strip().lower(): c for c in wf.columns}
    if WEIGHT_COLUMN not in cols:
        raise DataError(f"The weight file needs a column {WEIGHT_COLUMN!r}; it has "
                        f"{', '.join(map(str, wf.columns))}.")
    w = pd.to_numeric(wf[cols[WEIGHT_COLUMN]], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(w).all() or (w < 0).any():
        raise DataError("Weights in the weight file must be finite and non-negative numbers (0 leaves a row out).")
    others = [c for c in wf.columns if c != cols[WEIGHT_COLUMN]]
    if len(others) > 1:
        raise DataError(f"The weight file may hold one identifier column besides {WEIGHT_COLUMN!r}; it has "
                        f"{', '.join(map(str, others))}.")
    if not others:
        if len(w) != len(data):
            raise DataError(f"The weight file has {len(w)} weights for {len(data)} data rows; without an identifier "
                            f"column it needs one weight per row, in the data's order.")
        out = w
    else:
        idc = others[0]
        if idc not in data.columns:
            raise DataError(f"The weight file's column {idc!r} is not a column of the data; name it as the data's "
                            f"identifier column, or keep only {WEIGHT_COLUMN!r} (weights in row order).")
        key_d = data[idc].astype(str).to_numpy()
        key_f = _unneutralise(wf[idc].astype(str).to_numpy(), key_d)
        if len(set(key_f)) != len(key_f) or len(set(key_d)) != len(key_d):
            raise DataError(f"Identifier {idc!r} repeats a value in the data or the weight file; rows cannot be "
                            f"matched.")
        pos = dict(zip(key_f, range(len(key_f))))
        missing = [k for k in key_d if k not in pos]
        if missing:
            raise DataError(f"{len(missing)} data row(s) have no weight in the weight file (first: {idc}="
                            f"{missing[0]}).")
        out = w[[pos[k] for k in key_d]]
    if not (out > 0).any():
        raise DataError("Every weight in the weight file is 0; nothing is left to audit.")
    return out


def attach_weight_file(raw: pd.DataFrame, source, weight: str | None = None) -> tuple[pd.DataFrame, str]:
    """A copy of ``raw`` with the file's weights (times ``weight`` when given) in a new column."""
    w = read_weight_file(source, raw)
    name = WEIGHT_FILE_COLUMN
    while name in raw.columns:
        name += "_"
    out = raw.copy()
    out.attrs = dict(raw.attrs)
    if weight is not None:
        if weight not in raw.columns:
            raise DataError(f"Weight column {weight!r} not found.")
        w = w * pd.to_numeric(raw[weight], errors="coerce").to_numpy(dtype=float)
    out[name] = w
    what = f"{source}" if not isinstance(source, pd.DataFrame) else "the given weights"
    n_eff = kish_n_eff(w)
    out.attrs["biasaudit_notes"] = list(raw.attrs.get("biasaudit_notes", [])) + [
        f"Rows weighted by {what}; tests use counts scaled to the effective sample size "
        f"n_eff={n_eff:,.1f} of {int((w > 0).sum()):,} weighted rows (Kish) and rounded."]
    return out, name


class _DesignWeighted(CodedTable):
    """A coded table whose counts are rounded after scaling the weights to n_eff."""

    def count(self, *columns: str) -> CountTable:
        t = super().count(*columns)
        return CountTable(t.columns, t.levels, np.rint(t.counts).astype(np.int64))


def weighted_table(table: CodedTable) -> CodedTable:
    """``table`` with its weights scaled to Kish's n_eff and every count rounded to an integer.

    The weighted rates are unchanged; the tests see as many rows as the weighted data are worth
    (see the module docstring).
    """
    w = table.weights
    if w is None:
        return table
    top = float(np.max(w)) if len(w) else 0.0
    if not (top > 0 and np.isfinite(top)):
        return table
    u = w / top  # scale-free first: weights near the float limits stay finite
    scaled = u * (kish_n_eff(u) / float(u.sum()))
    return _DesignWeighted(table.codes, table.levels, scaled)
