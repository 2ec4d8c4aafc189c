"""COCO instance annotations (``instances_*.json``) as one row per image.

Columns: ``image_id``, ``file_name``, ``width``, ``height``, ``aspect_ratio``, ``orientation``,
``megapixels``, ``capture_year`` (from ``date_captured``), ``license``, ``n_objects`` (annotations,
crowd regions included), ``categories`` and ``supercategories`` (multi-valued, ``|``-joined, sorted;
``(none)`` for an image without annotations; the audit turns them into one indicator per value),
``box_area_mean`` and ``box_area_max`` (box area as a share of the image).  When the images are
found beside the annotations (or under ``images_root``) the pixel attributes are added.

When ``label`` names a category (or a supercategory) rather than a field, a yes/no column of that
name is added, and that category's annotations are left out of every other column, so that no
column restates the label.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, InputFileError
from .images import attach
from .manifest import load_manifest

__all__ = ["is_coco", "load_coco", "category_counts", "NONE"]

NONE = "(none)"
_KEYS = ("images", "annotations", "categories")


def is_coco(path) -> bool:
    """True when ``path`` holds one JSON object with keys images, annotations and categories.

    A JSON Lines file (one complete object on its first line, without those keys) is not COCO.
    Only the first 64 KiB are read unless the first line is not a complete JSON value.
    """
    path = Path(os.fspath(path))
    with open(path, "rb") as fh:
        head = fh.read(65536)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text.startswith("{"):
        return False
    first = text.split("\n", 1)[0]
    try:
        obj = json.loads(first)
        return isinstance(obj, dict) and all(k in obj for k in _KEYS)
    except ValueError:  # pretty-printed, or one line longer than the head
        return '"images"' in text


def _read(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            doc = json.load(fh)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputFileError(f"Cannot read {path} as COCO JSON: {exc}. Check the file.") from exc
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in _KEYS):
        raise InputFileError(f"{path} is not a COCO instances file (it needs lists 'images', 'annotations' "
                             f"and 'categories').")
    if not doc["images"]:
        raise DataError(f"{path} lists no images. An audit needs at least one image.")
    return doc


def category_counts(path) -> pd.DataFrame:
    """Per category: supercategory, images holding it, instances (annotations)."""
    doc = _read(Path(os.fspath(path)))
    cats = {c["id"]: (c.get("name"), c.get("supercategory")) for c in doc["categories"]}
    ann = pd.DataFrame([(a.get("image_id"), a.get("category_id")) for a in doc["annotations"]],
                       columns=["image_id", "category_id"])
    rows = []
    for cid, (name, sup) in cats.items():
        sel = ann[ann["category_id"] == cid]
        rows.append({"category": name, "supercategory": sup, "n_images": int(sel["image_id"].nunique()),
                     "n_instances": int(len(sel))})
    return pd.DataFrame(rows, columns=["category", "supercategory", "n_images", "n_instances"])


def _join(values) -> str:
    values = sorted({str(v) for v in values if v is not None})
    return "|".join(values) if values else NONE


def load_coco(path, *, label: str | None = None, images_root=None, image_features: bool = True,
              workers: int | None = None, progress=None, cache=None) -> pd.DataFrame:
    """Read a COCO instances file; see the module docstring for the columns.

    Parameters
    ----------
    path : path-like
    label : str, optional
        A field of the table or a category / supercategory name (then a yes/no column of that name).
    images_root : path-like, optional
        Folder of the images; default: tried beside the file, ``../<split>`` (``instances_val2017.json``
        -> ``val2017``) and ``../images``.  Paths outside the root are refused.
    """
    path = Path(os.fspath(path))
    doc = _read(path)
    cats = {c["id"]: (str(c.get("name")), str(c.get("supercategory") or c.get("name"))) for c in doc["categories"]}
    names = {n for n, _ in cats.values()}
    sups = {s for _, s in cats.values()}
    target = None
    fields = {"image_id", "file_name", "width", "height", "n_objects", "categories", "supercategories"}
    if label is not None and label not in fields:
        if label in names:
            target = ("name", label)
        elif label in sups:
            target = ("supercategory", label)
    images = pd.DataFrame([{"image_id": im.get("id"), "file_name": im.get("file_name"), "width": im.get("width"),
                            "height": im.get("height"), "date_captured": im.get("date_captured"),
                            "license": im.get("license")} for im in doc["images"]])
    ann = pd.DataFrame([(a.get("image_id"), a.get("category_id"), *(list(a.get("bbox") or [np.nan] * 4)[2:4]))
                        for a in doc["annotations"]], columns=["image_id", "category_id", "bw", "bh"])
    ann["name"] = ann["category_id"].map(lambda c: cats.get(c, (str(c), str(c)))[0])
    ann["supercategory"] = ann["category_id"].map(lambda c: cats.get(c, (str(c), str(c)))[1])
    has_target = None
    if target is not None:
        hit = ann[target[0]] == target[1]
        has_target = set(ann.loc[hit, "image_id"])
        ann = ann[~hit]
    size = images.set_index("image_id")[["width", "height"]]
    ann = ann.join(size, on="image_id")
    ann["share"] = ann["bw"] * ann["bh"] / (ann["width"] * ann["height"])
    by = ann.groupby("image_id")
    out = images[["image_id", "file_name", "width", "height"]].copy()
    w = pd.to_numeric(out["width"], errors="coerce")
    h = pd.to_numeric(out["height"], errors="coerce")
    out["aspect_ratio"] = (w / h).round(3)
    out["orientation"] = np.where((w - h).abs() <= 0.02 * np.maximum(w, h), "square",
                                  np.where(w > h, "landscape", "portrait"))
    out["megapixels"] = (w * h / 1e6).round(3)
    year = pd.to_datetime(images["date_captured"], errors="coerce", format="mixed").dt.year
    if year.notna().any():
        out["capture_year"] = year
    if images["license"].notna().any():
        out["license"] = images["license"]
    out["n_objects"] = out["image_id"].map(by.size()).fillna(0).astype(int)
    out["categories"] = out["image_id"].map(by["name"].agg(_join)).fillna(NONE)
    out["supercategories"] = out["image_id"].map(by["supercategory"].agg(_join)).fillna(NONE)
    out["box_area_mean"] = out["image_id"].map(by["share"].mean()).round(4)
    out["box_area_max"] = out["image_id"].map(by["share"].max()).round(4)
    notes = [f"COCO annotations: {len(out)} images, {len(doc['annotations'])} annotations, {len(cats)} categories; "
             f"'categories' and 'supercategories' are multi-valued (one indicator per value)."]
    if target is not None:
        out[label] = np.where(out["image_id"].isin(has_target), "yes", "no")
        notes.append(f"Label {label!r} is the {'category' if target[0] == 'name' else 'supercategory'} {label!r} "
                     f"(yes/no); its annotations are left out of the other columns.")
    out = attach(out, notes=notes, multi={"categories": "|", "supercategories": "|"})
    root = _images_root(path, out["file_name"], images_root)
    if root is None:
        return attach(out, notes=["The images are not beside the annotations; audited the annotations only "
                                  "(pass --images-root DIR for pixel attributes)."])
    return load_manifest(out, images_root=root, path_column="file_name", image_features=image_features,
                         workers=workers, progress=progress, cache=cache)


def _images_root(path: Path, files: pd.Series, images_root):
    if images_root is not None:
        return images_root
    stem = path.stem.split("_", 1)[-1] if "_" in path.stem else path.stem
    candidates = [path.parent, path.parent.parent / stem, path.parent / stem, path.parent.parent / "images",
                  path.parent / "images"]
    sample = [str(f) for f in files.dropna().iloc[:50]]
    for root in candidates:
        real = os.path.realpath(root)
        for f in sample:
            full = os.path.normpath(os.path.join(real, f))
            if full.startswith(real + os.sep) and os.path.isfile(full):
                return root
    return None
