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
    df = pd.read_csv(path, sep=r"\s+", skiprows=2, header=None, names=names, nrows=nrows, engine="c",
                     dtype={id_column: str, **{h: np.int8 for h in header}})
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
