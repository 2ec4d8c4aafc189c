"""A folder of images as an attribute table, and the extraction every image source shares.

* :func:`load_image_folder`: ``root/<class>/<image>`` (the ImageFolder layout; also
  ``root/<split>/<class>/<image>`` with split train/val/test), one row per image file.
  Manifests (a table with a column of image paths) are read by :mod:`biasaudit.loaders.manifest`.

Pixel attributes (:mod:`biasaudit.loaders.pixels`) are extracted in a thread pool.  What the
audit needs besides the columns travels in ``DataFrame.attrs``: ``biasaudit_notes`` (sentences),
``biasaudit_skipped`` (``{"path", "reason"}`` rows), ``biasaudit_multi`` (multi-valued columns and
their separators) and ``biasaudit_images`` (an :class:`ImageInfo`, read by the image probe).
"""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import DataError, InputFileError
from ._imagecache import read_cache, write_cache

__all__ = ["IMAGE_SUFFIXES", "ImageInfo", "ImageFolderError", "load_image_folder", "extract_attributes", "attach",
           "tty_progress"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
SPLIT_NAMES = {"train", "training", "val", "valid", "validation", "dev", "test", "testing"}
_IGNORED = {"thumbs.db", "desktop.ini"}


class ImageFolderError(DataError, InputFileError):
    """A folder holds no image to audit (both a data and an input error)."""


@dataclass(frozen=True, eq=False)
class ImageInfo:
    """Where the images of a loaded frame are and their probe features (one entry per row).

    ``paths`` are relative to ``root`` (``None`` where a row has no readable image); ``features`` is
    an array of shape (n_rows, 2, n_features) with NaN rows for unreadable images, or None;
    ``index`` holds the frame's index labels at load time, so that rows stay matched after the
    frame is filtered or reordered (:meth:`rows`).
    """

    root: str
    paths: tuple
    features: np.ndarray | None = None
    index: tuple | None = None

    def rows(self, index) -> tuple[list, np.ndarray | None]:
        """Paths and features of the rows with these index labels (None / NaN for unknown rows)."""
        pos = (pd.Index(self.index).get_indexer(index) if self.index is not None
               else np.arange(len(index)) if len(index) == len(self.paths) else np.full(len(index), -1))
        paths = [self.paths[p] if p >= 0 else None for p in pos]
        if self.features is None:
            return paths, None
        feats = np.full((len(pos),) + self.features.shape[1:], np.nan, dtype=np.float32)
        feats[pos >= 0] = self.features[pos[pos >= 0]]
        return paths, feats

    def __deepcopy__(self, memo):  # immutable: DataFrame.copy() need not copy the pixels
        return self


def tty_progress(enabled: bool, label: str = "reading images", threshold: int = 200) -> Callable | None:
    """A ``progress(done, total)`` callback drawing a click progress bar on a TTY (None otherwise)."""
    import sys

    import click

    if not enabled or not sys.stderr.isatty():
        return None
    state: dict = {}

    def progress(done: int, total: int) -> None:
        if total < threshold:
            return
        if "bar" not in state:
            state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr)
            state["bar"].__enter__()
        state["bar"].update(done - state.get("done", 0))
        state["done"] = done
        if done >= total:
            state.pop("bar").__exit__(None, None, None)
    return progress


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _read_one(args):
    from .pixels import read_image
    path, features = args
    try:
        return read_image(path, features)
    except OSError as exc:  # vanished or unreadable between listing and reading
        return {"image_error": f"cannot read file ({exc.strerror or exc})"}, None, [f"cannot read file ({exc})"]


def _key(path: str) -> tuple:
    try:
        st = os.stat(path)
        return path, st.st_size, st.st_mtime_ns
    except OSError:  # gone since it was listed: read_image reports it
        return path, -1, -1


def extract_attributes(files: list[str], *, features: bool = True, workers: int | None = None,
                       progress: Callable | None = None, cache: str | os.PathLike | None = None
                       ) -> tuple[pd.DataFrame, np.ndarray | None, list[list[str]]]:
    """Pixel attributes of ``files`` (absolute, already checked), in order.

    Decoding runs in a thread pool of ``workers`` threads (default: the number of CPUs); Pillow
    releases the interpreter lock while it decodes.  Pillow's decompression-bomb limit is kept:
    an image above ``Image.MAX_IMAGE_PIXELS`` is refused, not decoded.  With ``cache`` (a Parquet
    file), attributes of files whose size and modification time are unchanged are reused.

    Returns
    -------
    attributes : DataFrame, one row per file
    probe : ndarray of shape (n, 2, n_features) or None
    problems : list, per file, of the reasons for what was skipped
    """
    from PIL import Image
    from .pixels import N_FEATURES
    from ..limits import Limits, current

    n = len(files)
    if cache:
        _check_cache(cache, files)
    keys = [_key(f) for f in files]
    cached = read_cache(cache, features) if cache else {}
    todo = [i for i, k in enumerate(keys) if k not in cached]
    results: list = [None] * n
    for i, k in enumerate(keys):
        if k in cached:
            results[i] = cached[k]
    done = n - len(todo)
    if progress is not None:
        progress(done, n)
    workers = max(1, min(workers or os.cpu_count() or 1, max(1, len(todo))))
    pillow_limit = Image.MAX_IMAGE_PIXELS
    if current().image_pixels != Limits().image_pixels:  # --limit image_pixels=N replaces Pillow's guard
        Image.MAX_IMAGE_PIXELS = current().image_pixels
    with _restored(Image, "MAX_IMAGE_PIXELS", pillow_limit), warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # keep Pillow's limit: refuse
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\..*")  # corrupt EXIF etc.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for i, res in zip(todo, pool.map(_read_one, [(files[i], features) for i in todo])):
                results[i] = res
                done += 1
                if progress is not None and (done % 50 == 0 or done == n):
                    progress(done, n)
    frame = pd.DataFrame([r[0] for r in results], index=range(n))
    probe = None
    if features:
        probe = np.full((n, 2, N_FEATURES), np.nan, dtype=np.float32)
        for i, r in enumerate(results):
            if r[1] is not None:
                probe[i] = r[1]
    if cache and todo:
        write_cache(cache, keys, frame, probe, [r[2] for r in results])
    return frame, probe, [list(r[2]) for r in results]


class _restored:
    """Put ``obj.name`` back to ``value`` on leaving the block."""

    def __init__(self, obj, name: str, value):
        self.obj, self.name, self.value = obj, name, value

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        setattr(self.obj, self.name, self.value)
        return False


#: Message when the image cache would overwrite an audited image ({cache}, {image}).
CACHE_IS_IMAGE = ("--cache {cache} is the audited image {image}; writing the cache there would destroy it. "
                  "Choose another path for the cache.")


def _check_cache(cache, files: list[str]) -> None:
    """Refuse a cache path that is one of the images (by path, symbolic link or hard link)."""
    real = os.path.realpath(os.fspath(cache))
    try:
        st = os.stat(real)
        ident = (st.st_dev, st.st_ino) if st.st_nlink > 1 else None
    except OSError:
        ident = None
    for f in files:
        same = os.path.realpath(f) == real
        if not same and ident is not None:
            try:
                fs = os.stat(f)
                same = (fs.st_dev, fs.st_ino) == ident
            except OSError:
                pass
        if same:
            from .._safe import escape_text
            raise InputFileError(CACHE_IS_IMAGE.format(cache=escape_text(os.fspath(cache), keep_newlines=False),
                                                       image=escape_text(f, keep_newlines=False)))


def attach(df: pd.DataFrame, *, notes=(), skipped=(), multi=None, info: ImageInfo | None = None,
           computed=()) -> pd.DataFrame:
    """Record loader notes, skipped files, multi-valued columns and image info in ``df.attrs``.

    ``computed`` names the columns measured from the image files themselves (pixels, size, format):
    they exist whenever the image does, so they cannot be recorded after the outcome, and the
    leakage check does not leave them out (a strong one is a shortcut, reported as such).
    """
    df.attrs["biasaudit_notes"] = list(df.attrs.get("biasaudit_notes", [])) + list(notes)
    df.attrs["biasaudit_skipped"] = list(df.attrs.get("biasaudit_skipped", [])) + list(skipped)
    if multi:
        df.attrs["biasaudit_multi"] = {**df.attrs.get("biasaudit_multi", {}), **multi}
    if info is not None:
        df.attrs["biasaudit_images"] = info
    if computed:
        df.attrs["biasaudit_computed"] = sorted(set(df.attrs.get("biasaudit_computed", [])) | set(computed))
    return df


def _summarise(skipped: list[dict], n_files: int) -> list[str]:
    if not skipped:
        return []
    by: dict = {}
    for s in skipped:
        key = s["reason"].split(" (")[0]
        by[key] = by.get(key, 0) + 1
    parts = ", ".join(f"{k}: {v}" for k, v in sorted(by.items(), key=lambda kv: -kv[1]))
    shown = "; ".join(f"{s['path']} ({s['reason']})" for s in skipped[:5]) + ("; ..." if len(skipped) > 5 else "")
    return [f"{len(skipped)} file problem(s) among {n_files} file(s), listed as skipped ({parts}): {shown}."]


def _pixel_frame(files: list[str], rel: list[str], root: str, *, features, workers, progress, cache):
    """Attribute frame for existing files plus skipped rows and the probe array."""
    attrs, probe, problems = extract_attributes(files, features=features, workers=workers, progress=progress,
                                                cache=cache)
    skipped = [{"path": r, "reason": p} for r, ps in zip(rel, problems) for p in ps]
    exif_cols = [c for c in ("camera_make", "camera_model", "capture_date", "capture_year", "gps_present")
                 if c in attrs.columns]
    notes = []
    if not exif_cols and "width" in attrs.columns:
        notes.append("No image carries EXIF camera, date or GPS metadata; those attributes are left out.")
    if "image_error" in attrs.columns:
        n_bad = int(attrs["image_error"].notna().sum())
        notes.append(f"{n_bad} of {len(files)} image(s) could not be read; their pixel attributes are missing "
                     f"and column 'image_error' says why.")
    return attrs, probe, skipped, notes


def load_image_folder(root, *, image_features: bool = True, workers: int | None = None,
                      progress: Callable | None = None, cache=None) -> pd.DataFrame:
    """One row per image under ``root``; the label is the class sub-folder.

    Parameters
    ----------
    root : path-like
        ``root/<class>/<image>`` or ``root/<split>/<class>/<image>`` (split in train/val/test...).
    image_features : bool, default True
        Compute pixel attributes and the probe features (else: path, label, file size and suffix only).
    workers : int, optional
        Threads decoding images (default: CPU count).
    progress : callable(done, total), optional
    cache : path-like, optional
        Parquet cache of extracted attributes, reused when file sizes and mtimes are unchanged.

    Returns
    -------
    pandas.DataFrame
        ``path`` (relative, ``/``-separated), ``label``, [``split``], then the pixel attributes.

    Raises
    ------
    ImageFolderError
        When the folder holds no image file.
    """
    root_path = Path(os.fspath(root))
    real_root = os.path.realpath(root_path)
    images, skipped, other = [], [], 0
    for dirpath, dirnames, filenames in os.walk(real_root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for d in dirnames:
            if os.path.islink(os.path.join(dirpath, d)):
                skipped.append({"path": os.path.relpath(os.path.join(dirpath, d), real_root).replace(os.sep, "/"),
                                "reason": "symbolic link to a folder (not followed)"})
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, real_root).replace(os.sep, "/")
            if name.startswith(".") or name.lower() in _IGNORED:
                continue
            if not name.lower().endswith(IMAGE_SUFFIXES):
                other += 1
                skipped.append({"path": rel, "reason": f"not an image file (suffix {Path(name).suffix or 'none'})"})
                continue
            real = os.path.realpath(full)
            if not _within(real, real_root):
                skipped.append({"path": rel, "reason": "symbolic link to a file outside the folder (refused)"})
                continue
            if not os.path.isfile(real):
                skipped.append({"path": rel, "reason": "not a regular file"})
                continue
            images.append(rel)
    if not images:
        raise ImageFolderError(
            f"{root_path} is a directory with no image files ({', '.join(IMAGE_SUFFIXES[:4])} ...; {other} other "
            f"file(s)). Give a folder of images with one sub-folder per class, or a table file (CSV, TSV, "
            f"Parquet, JSON Lines).")
    parts = [p.split("/") for p in images]
    split = None
    tops = {p[0].lower() for p in parts if len(p) > 1}
    if tops and tops <= SPLIT_NAMES and all(len(p) > 2 for p in parts):
        split = [p[0] for p in parts]
        labels = [p[1] for p in parts]
    else:
        labels = [p[0] if len(p) > 1 else np.nan for p in parts]
    df = pd.DataFrame({"path": images, "label": pd.Series(labels, dtype=object)})
    if split is not None:
        df["split"] = split
    notes = [f"Read {len(images)} image(s) from {root_path}; the label is the "
             f"{'second-level' if split else ''}{' ' if split else ''}sub-folder name."]
    n_top = int(df["label"].isna().sum())
    if n_top:
        notes.append(f"{n_top} image(s) lie directly in {root_path}, outside any class sub-folder: no label.")
    files = [os.path.join(real_root, p) for p in images]
    info_features = None
    if image_features:
        attrs, info_features, bad, extra = _pixel_frame(files, images, real_root, features=True, workers=workers,
                                                         progress=progress, cache=cache)
        df = pd.concat([df, attrs], axis=1)
        computed = [c for c in attrs.columns if c != "image_error"]
        skipped += bad
        notes += extra
    else:
        df["file_size"] = [os.stat(f).st_size for f in files]
        df["format"] = [Path(p).suffix.lower().lstrip(".").replace("jpeg", "jpg") for p in images]
        computed = ["file_size", "format"]
        notes.append("Pixel attributes were not computed (--no-image-features).")
    notes += _summarise(skipped, len(images) + other)
    info = ImageInfo(root=real_root, paths=tuple(images), features=info_features, index=tuple(df.index))
    return attach(df, notes=notes, skipped=skipped, info=info, computed=computed)
