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
    except (ValueError, RecursionError):  # pretty-printed, one line longer than the head, or deeply nested
        return '"images"' in text


#: Fields every entry needs, per list of a COCO file.
REQUIRED = {"images": ("id",), "annotations": ("image_id", "category_id"), "categories": ("id",)}


def _read(path: Path) -> dict:
    from ..limits import current, limit_hint
    from ._guard import BoundError
    lim = current().json_bytes
    if path.stat().st_size > lim:
        raise BoundError(f"{path} is larger than the json_bytes limit ({lim:,} bytes) for a JSON document read "
                         f"whole; {limit_hint('json_bytes', lim)}.")
    try:
        with open(path, "rb") as fh:
            doc = json.load(fh)
    except RecursionError:
        raise InputFileError(f"{path} nests JSON values too deeply to read (thousands of levels); a COCO file "
                             f"nests four. Check the file.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputFileError(f"Cannot read {path} as COCO JSON: {exc}. Check the file.") from exc
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in _KEYS):
        raise InputFileError(f"{path} is not a COCO instances file (it needs lists 'images', 'annotations' "
                             f"and 'categories').")
    if not doc["images"]:
        raise DataError(f"{path} lists no images. An audit needs at least one image.")
    for key, required in REQUIRED.items():
        _check_entries(doc[key], key, required, path)
    ids = pd.Series([im["id"] for im in doc["images"]], dtype=object)
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        first = dup.iloc[0]
        raise InputFileError(f"{path}: image id {first!r} appears {int((ids == first).sum()):,} times in 'images' "
                             f"({len(dup):,} entries share an id); COCO image ids must be unique. Fix the file.")
    return doc


def _scalar(v) -> bool:
    return isinstance(v, (str, int, float)) and not isinstance(v, bool)


def _check_entries(items: list, key: str, required: tuple, path: Path) -> None:
    """Every entry of ``items`` an object holding ``required`` fields with number or text values."""
    bad = next((i for i, x in enumerate(items) if not isinstance(x, dict)), None)
    if bad is not None:
        raise InputFileError(f"{path}: {key}[{bad}] is a {type(items[bad]).__name__}, not an object; every entry "
                             f"of {key!r} is an object with {', '.join(map(repr, required))}. Fix the file.")
    for name in required:
        i = next((i for i, x in enumerate(items) if name not in x), None)
        if i is not None:
            raise InputFileError(f"{path}: {key}[{i}] has no {name!r}; every entry of {key!r} needs "
                                 f"{', '.join(map(repr, required))}. Fix the file.")
        i = next((i for i, x in enumerate(items) if not _scalar(x[name])), None)
        if i is not None:
            raise InputFileError(f"{path}: {key}[{i}].{name} is a {type(items[i][name]).__name__}; it must be a "
                                 f"number or a string. Fix the file.")


def _field(value):
    """An optional field's value as a scalar (lists, objects, booleans become missing)."""
    return value if _scalar(value) else None


def _box_side(box, j: int):
    if isinstance(box, (list, tuple)) and len(box) >= 4 and _scalar(box[j]) and not isinstance(box[j], str):
        return float(box[j])
    return np.nan


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
    cats = {c["id"]: (str(_field(c.get("name"))), str(_field(c.get("supercategory")) or _field(c.get("name"))))
            for c in doc["categories"]}
    names = {n for n, _ in cats.values()}
    sups = {s for _, s in cats.values()}
    target = None
    fields = {"image_id", "file_name", "width", "height", "n_objects", "categories", "supercategories"}
    if label is not None and label not in fields:
        if label in names:
            target = ("name", label)
        elif label in sups:
            target = ("supercategory", label)
    images = pd.DataFrame([{"image_id": im["id"], "file_name": _field(im.get("file_name")),
                            "width": _field(im.get("width")), "height": _field(im.get("height")),
                            "date_captured": _field(im.get("date_captured")), "license": _field(im.get("license"))}
                           for im in doc["images"]])
    images["width"] = pd.to_numeric(images["width"], errors="coerce")
    images["height"] = pd.to_numeric(images["height"], errors="coerce")
    ann = pd.DataFrame([(a["image_id"], a["category_id"], _box_side(a.get("bbox"), 2), _box_side(a.get("bbox"), 3))
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
    out["categories"] = out["image_id"].map(by["name"].agg(_join)).astype(object).fillna(NONE)
    out["supercategories"] = out["image_id"].map(by["supercategory"].agg(_join)).astype(object).fillna(NONE)
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
