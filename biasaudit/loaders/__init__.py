"""Loaders: turn a file, a folder of images or a DataFrame into a pandas DataFrame.

:func:`load` dispatches on the source: a folder -> :func:`~biasaudit.loaders.images.load_image_folder`;
a COCO ``instances_*.json`` -> :func:`~biasaudit.loaders.coco.load_coco`; a CelebA attribute file ->
:func:`~biasaudit.loaders.celeba.load_celeba_attributes`; any other file -> the table reader, then,
when a column names image files that exist (or ``images_root`` is given), the manifest reader.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from .tables import SUPPORTED_SUFFIXES
from .tables import load as load_table

__all__ = ["load", "load_table", "SUPPORTED_SUFFIXES"]


def load(source, *, images_root=None, image_features: bool = True, label: str | None = None,
         path_column: str | None = None, workers: int | None = None, progress=None, cache=None,
         **options) -> pd.DataFrame:
    """Load a labelled table, a folder of images, a manifest of images or COCO annotations.

    Parameters
    ----------
    source : str, path-like or pandas.DataFrame
        A table file (see :func:`~biasaudit.loaders.tables.load`), a folder of images with one
        sub-folder per class, a COCO instances JSON file, or a DataFrame.
    images_root : path-like, optional
        Folder the manifest's image paths are relative to (default: the manifest's folder).
        Paths that leave it are refused.
    image_features : bool, default True
        Compute pixel attributes (size, colour, brightness, EXIF ...) for image sources.
    label : str, optional
        For COCO: a field, or a category / supercategory name that becomes a yes/no label.
    path_column : str, optional
        The manifest's column of image paths (default: detected).
    workers, progress, cache
        Threads decoding images; a ``progress(done, total)`` callback; a Parquet cache file.
    **options
        ``format``, ``encoding``, ``delimiter`` and pandas options of the table reader.

    Returns
    -------
    pandas.DataFrame
        Loader notes, skipped files and multi-valued columns ride in ``DataFrame.attrs``.
    """
    image_opts = {"image_features": image_features, "workers": workers, "progress": progress, "cache": cache}
    if isinstance(source, pd.DataFrame):
        df = load_table(source, **options)
        if images_root is not None:
            from .manifest import load_manifest
            return load_manifest(df, images_root=images_root, path_column=path_column, **image_opts)
        return df
    path = Path(os.fspath(source))
    if path.is_dir():
        from .images import load_image_folder
        return load_image_folder(path, **image_opts)
    if path.is_file() and path.stat().st_size > 0 and options.get("format") is None:
        suffix = path.suffix.lower()
        if suffix == ".json":
            from .coco import is_coco, load_coco
            if is_coco(path):
                return load_coco(path, label=label, images_root=images_root, **image_opts)
        elif suffix == ".txt" and _celeba_count(path) is not None:
            from .celeba import load_celeba_attributes
            from .images import attach
            df = load_celeba_attributes(path)
            declared = _celeba_count(path)
            notes = [f"CelebA attribute file: {len(df):,} images x {df.shape[1] - 1} attributes (1 present, 0 absent)."]
            if declared != len(df):
                notes.append(f"The file declares {declared:,} images but holds {len(df):,} rows (a truncated copy?).")
            return attach(df, notes=notes)
    df = load_table(path, **options)
    if image_features or images_root is not None:
        from .manifest import load_manifest
        df = load_manifest(df, manifest=path, images_root=images_root, path_column=path_column, **image_opts)
    return df


_ATTR_NAME = re.compile(r"^\w*[A-Za-z_]\w*$")


def _celeba_count(path: Path) -> int | None:
    """The declared image count when ``path`` starts like a CelebA attribute list, else None.

    Line 1 a count, line 2 attribute names, line 3 a file name followed by one 1 / -1 per name.
    """
    with open(path, "r", encoding="utf-8", errors="replace") as fh:
        lines = [fh.readline().strip() for _ in range(3)]
    if not lines[0].isdigit():
        return None
    names, row = lines[1].split(), lines[2].split()
    ok = (bool(names) and all(_ATTR_NAME.match(n) for n in names) and len(row) == len(names) + 1
          and all(v in ("1", "-1") for v in row[1:]))
    return int(lines[0]) if ok else None
