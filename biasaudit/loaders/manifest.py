"""A manifest: a table with a column of image paths, plus the pixel attributes of those images.

Paths are relative to the manifest's folder or to ``images_root``; absolute paths must lie inside
that root.  A path that leaves the root, directly (``../``, an absolute path elsewhere) or through a
symbolic link, is refused with :class:`PathEscapeError` naming it: nothing outside the root is read.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import DataError, InputFileError
from .images import IMAGE_SUFFIXES, ImageInfo, _pixel_frame, _summarise, _within, attach

__all__ = ["PathEscapeError", "find_path_column", "load_manifest"]

_PATH_NAMES = ("path", "image_path", "img_path", "filepath", "file_path", "file", "filename", "file_name",
               "img_filename", "image_filename", "image", "img", "image_file")


class PathEscapeError(DataError):
    """A manifest names a file outside the images root (refused)."""


def find_path_column(df: pd.DataFrame) -> str | None:
    """The column of image paths: most values end with an image suffix; known names first."""
    found = []
    for c in df.columns:
        s = df[c].dropna()
        if len(s) == 0 or not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
            continue
        sample = s.iloc[:: max(1, len(s) // 500)].astype(str).str.lower()
        if sample.str.endswith(IMAGE_SUFFIXES).mean() >= 0.9:
            found.append(c)
    if not found:
        return None
    lower = {str(c).lower(): c for c in found}
    for name in _PATH_NAMES:
        if name in lower:
            return lower[name]
    return found[0]


def _resolve_paths(values: pd.Series, root: str, column: str, strict: bool):
    """(absolute real path or None per row, existing mask); refuses escapes when ``strict``."""
    real_root = os.path.realpath(root)
    out, exists = [], []
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "":
            out.append(None)
            exists.append(False)
            continue
        raw = str(v).strip()
        joined = os.path.normpath(os.path.join(real_root, raw))  # an absolute raw replaces the root
        if not _within(joined, real_root):
            if strict:
                raise PathEscapeError(
                    f"Image path {raw!r} (column {column!r}, row {i + 1}) is outside the images root {real_root}; "
                    f"paths that leave the root are refused. Pass --images-root to the folder that holds the images.")
            out.append(None)
            exists.append(False)
            continue
        out.append(joined)
        exists.append(os.path.isfile(joined))
    return out, np.array(exists, dtype=bool)


def load_manifest(df: pd.DataFrame, *, manifest: str | os.PathLike | None = None, images_root=None,
                  path_column: str | None = None, image_features: bool = True, workers: int | None = None,
                  progress: Callable | None = None, cache=None) -> pd.DataFrame:
    """Add pixel attributes to a manifest table whose ``path_column`` names image files.

    Paths are relative to ``images_root`` (default: the manifest's folder); absolute paths must
    lie inside it.  Every path that leaves the root (``../``, an absolute path elsewhere, or a
    symbolic link pointing outside) raises :class:`PathEscapeError` naming it.

    Without ``images_root``, a table whose image files do not exist (metadata published without
    the pictures, such as Waterbirds' ``metadata.csv``) is returned as it is, with a note; with
    ``images_root`` that is an error.
    """
    explicit = images_root is not None
    column = path_column or find_path_column(df)
    if column is None:
        if explicit:
            raise DataError("No column of image paths found (values ending in .jpg, .png ...). "
                            "Name it with path_column.")
        return df
    if column not in df.columns:
        from ..errors import missing_column as _missing_column
        raise _missing_column(column, df.columns, "Image path")
    if images_root is None:
        if manifest is None:
            return df
        images_root = Path(os.fspath(manifest)).resolve().parent
    root = os.path.realpath(os.fspath(images_root))
    if explicit and not os.path.isdir(root):
        raise InputFileError(f"Images root {images_root} is not a folder.")
    resolved, exists = _resolve_paths(df[column], root, column, strict=explicit)
    if not exists.any():
        if explicit:
            first = next((p for p in resolved if p), "")
            raise DataError(f"None of the {len(df)} images named in column {column!r} exist under {root} "
                            f"(first: {first}). Check --images-root, or leave it out to audit the metadata alone.")
        return attach(df, notes=[f"Column {column!r} names image files, but none exist under {root}; audited the "
                                 f"metadata only (pass --images-root DIR where the images are)."])
    if not explicit:  # the pictures are here: from now on every path must stay inside the root
        resolved, exists = _resolve_paths(df[column], root, column, strict=True)
    for p, r, e in zip(df[column], resolved, exists):
        if e and not _within(os.path.realpath(r), root):
            raise PathEscapeError(f"Image path {p!r} (column {column!r}) is a symbolic link that leaves the images "
                                  f"root {root}; it is refused.")
    notes = [f"Column {column!r} holds image paths under {root}: {int(exists.sum())} of {len(df)} found."]
    skipped = [{"path": str(p), "reason": "file not found"}
               for p, e in zip(df[column], exists) if not e and pd.notna(p)]
    rel = [os.path.relpath(r, root).replace(os.sep, "/") if r and e else None for r, e in zip(resolved, exists)]
    features = None
    computed = []
    if image_features:
        unique = sorted({r for r, e in zip(resolved, exists) if e})
        attrs, probe, bad, extra = _pixel_frame(unique, [os.path.relpath(u, root) for u in unique], root,
                                                features=True, workers=workers, progress=progress, cache=cache)
        pos = {u: i for i, u in enumerate(unique)}
        rows = [pos.get(r, -1) if e else -1 for r, e in zip(resolved, exists)]
        attrs = attrs.reindex(rows).reset_index(drop=True)
        missing = ~exists
        if missing.any():
            if "image_error" not in attrs.columns:
                attrs["image_error"] = pd.Series(np.nan, index=attrs.index, dtype=object)
            attrs.loc[missing, "image_error"] = "file not found"
        attrs.columns = [f"img_{c}" if c in df.columns else c for c in attrs.columns]
        computed = [c for c in attrs.columns if c not in ("image_error", "img_image_error")]
        base = dict(df.attrs)
        df = pd.concat([df.reset_index(drop=True), attrs], axis=1)
        df.attrs.update(base)
        features = np.full((len(df),) + probe.shape[1:], np.nan, dtype=np.float32)
        ok = np.array(rows) >= 0
        features[ok] = probe[np.array(rows)[ok]]
        skipped += bad
        notes += extra
    notes += _summarise(skipped, len(df))
    info = ImageInfo(root=root, paths=tuple(rel), features=features, index=tuple(df.index))
    return attach(df, notes=notes, skipped=skipped, info=info, computed=computed)
