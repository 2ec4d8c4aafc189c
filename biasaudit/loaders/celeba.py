"""Reader for CelebA-style attribute lists (``list_attr_celeba.txt``).

Format (Liu et al., ICCV 2015): line 1 the declared number of images, line 2 the attribute names,
then one line per image, ``<file name> v_1 ... v_K`` separated by runs of spaces, each value
``1`` (present) or ``-1`` (absent).  The declared count may disagree with the lines present
(truncated copies); the lines are what is read.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from ..errors import DataError

__all__ = ["load_celeba_attributes"]


def load_celeba_attributes(path, *, attributes: Iterable[str] | None = None, nrows: int | None = None,
                           binary: str = "01", id_column: str = "image_id") -> pd.DataFrame:
    """Read a CelebA-style attribute list into a DataFrame.

    Parameters
    ----------
    path : str or Path
    attributes : list of str, optional
        Attribute columns to keep (all by default); unknown names raise ``DataError``.
    nrows : int, optional
        Read only the first ``nrows`` images.
    binary : {"01", "raw"}
        ``"01"`` maps 1 / -1 to 1 / 0 (present / absent); ``"raw"`` keeps 1 / -1.
    id_column : str
        Name of the image file column.

    Returns
    -------
    pandas.DataFrame
        ``id_column`` followed by one int8 column per attribute.
    """
    path = Path(path)
    if binary not in ("01", "raw"):
        raise ValueError(f"The 'binary' parameter of load_celeba_attributes must be '01' or 'raw'. "
                         f"Got {binary!r} instead.")
    with path.open("r", encoding="utf-8") as fh:
        first = fh.readline().strip()
        header = fh.readline().split()
    if not first.isdigit() or not header:
        raise DataError(f"{path} does not look like a CelebA attribute list: line 1 should be the image count "
                        f"and line 2 the attribute names.")
    names = [id_column] + header
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise DataError(f"{path}: line 2 names attribute {dup!r} twice. Give each attribute one name.")
    try:
        df = pd.read_csv(path, sep=r"\s+", skiprows=2, header=None, names=names, nrows=nrows, engine="c",
                         dtype={id_column: str, **{h: np.int8 for h in header}})
    except (ValueError, OverflowError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(_diagnose(path, names, nrows, exc)) from None
    if df[header].isna().any().any():
        raise DataError(_diagnose(path, names, nrows, None))
    bad = ~df[header].isin([-1, 1]).all(axis=0)
    if bad.any():
        raise DataError(f"{path}: attribute values must be 1 or -1; column(s) {', '.join(bad[bad].index)} hold others.")
    if attributes is not None:
        attributes = list(attributes)
        missing = [a for a in attributes if a not in header]
        if missing:
            raise DataError(f"Attribute(s) {missing} not in {path.name}; it has {', '.join(header)}.")
        df = df[[id_column] + attributes]
    if binary == "01":
        cols = [c for c in df.columns if c != id_column]
        df[cols] = ((df[cols] + 1) // 2).astype(np.int8)
    return df


def _diagnose(path: Path, names: list, nrows: int | None, exc) -> str:
    """One line naming the first malformed line of a CelebA file (read again as text to find it)."""
    n_fields = len(names)
    try:
        raw = pd.read_csv(path, sep=r"\s+", skiprows=2, header=None, nrows=nrows, engine="python", dtype=str,
                          names=range(n_fields + 1), encoding="utf-8", encoding_errors="strict")
    except UnicodeDecodeError as err:
        return f"{path} is not UTF-8 text (byte {err.start}). Re-save it as UTF-8."
    except (ValueError, pd.errors.ParserError):
        first = str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else "unreadable"
        return f"{path} is not a valid CelebA attribute list ({first}). Check the file."
    counts = raw.notna().sum(axis=1).to_numpy()
    wrong = np.flatnonzero(counts != n_fields)
    values = raw.iloc[:, 1:n_fields]
    bad_value = ~values.isin(["1", "-1"]).to_numpy()
    bad_rows = np.flatnonzero(bad_value.any(axis=1))
    first_wrong = int(wrong[0]) if len(wrong) else None
    first_bad = int(bad_rows[0]) if len(bad_rows) else None
    if first_wrong is not None and (first_bad is None or first_wrong <= first_bad):
        return (f"{path}: line {first_wrong + 3} has {int(counts[first_wrong])} fields; every line needs a file "
                f"name and {n_fields - 1} values of 1 or -1. Fix or drop that line.")
    if first_bad is not None:
        j = int(np.flatnonzero(bad_value[first_bad])[0])
        shown = str(values.iat[first_bad, j])[:20]
        return (f"{path}: line {first_bad + 3}, attribute {names[j + 1]!r} is {shown!r}; values must be 1 or -1. "
                f"Fix that line.")
    first = str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else "unreadable"
    return f"{path} is not a valid CelebA attribute list ({first}). Check the file."
