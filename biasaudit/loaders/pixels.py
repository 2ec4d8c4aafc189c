"""Attributes of one image computed from its file and its pixels (Pillow + NumPy; no model, no network).

:func:`read_image` opens a file once, reads its header and EXIF, decodes a reduced copy
(``draft()`` for JPEG, then a box-filtered :data:`WORK_SIZE` x :data:`WORK_SIZE` copy on which every
pixel statistic is computed) and returns plain attributes plus the fixed feature vector of the
background probe (:func:`region_features`).  A bad file never raises: the reason is returned.
"""
from __future__ import annotations

import os
from datetime import datetime

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["PALETTE", "WORK_SIZE", "KERNELS", "REGIONS", "N_FEATURES", "region_features", "color_codes", "color_name", "image_statistics",
           "read_image", "border_mask"]

#: The fixed palette of colour names (the order is the code used by :func:`color_codes`).
PALETTE = ("black", "white", "grey", "brown", "red", "orange", "yellow", "green", "blue", "purple", "pink")
#: Side of the square, box-filtered copy every pixel statistic and the probe features are computed on.
WORK_SIZE = 64
#: Width of the border band as a share of each side (the background proxy).
BORDER_SHARE = 0.125

_ORIENTATION_TAG, _MAKE, _MODEL, _DATETIME = 0x0112, 0x010F, 0x0110, 0x0132
_EXIF_IFD, _GPS_IFD, _DATETIME_ORIGINAL = 0x8769, 0x8825, 0x9003
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}


def color_codes(rgb: np.ndarray) -> np.ndarray:
    """Name every pixel with the index of its colour in :data:`PALETTE`.

    Rules on HSV (hue *h* in degrees, saturation *s* = chroma / max, value *v* = max / 255):
    black when v < 0.18; achromatic when s < 0.15 or chroma < 0.08 (white when v > 0.85, else
    grey); brown when 10 <= h < 45 and (v < 0.65 or s < 0.5 and v < 0.85); pink when the hue is
    red and s < 0.55, v > 0.65, or 320 <= h < 345; otherwise by hue: red [345, 15), orange
    [15, 40), yellow [40, 70), green [70, 165), blue [165, 255), purple [255, 320).

    Parameters
    ----------
    rgb : ndarray of shape (..., 3), uint8

    Returns
    -------
    ndarray of shape (...,), int8
    """
    x = np.asarray(rgb, dtype=np.float32) / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    mx = x.max(axis=-1)
    mn = x.min(axis=-1)
    c = mx - mn
    safe = np.where(c > 0, c, 1.0)
    h = np.where(mx == r, ((g - b) / safe) % 6.0, np.where(mx == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0)) * 60.0
    s = np.where(mx > 0, c / np.where(mx > 0, mx, 1.0), 0.0)
    v = mx
    out = np.full(h.shape, PALETTE.index("purple"), dtype=np.int8)
    for name, lo, hi in (("red", 345, 360), ("red", 0, 15), ("orange", 15, 40), ("yellow", 40, 70),
                         ("green", 70, 165), ("blue", 165, 255), ("pink", 320, 345)):
        out[(h >= lo) & (h < hi)] = PALETTE.index(name)
    red = out == PALETTE.index("red")
    out[red & (s < 0.55) & (v > 0.65)] = PALETTE.index("pink")
    out[(h >= 10) & (h < 45) & ((v < 0.65) | ((s < 0.5) & (v < 0.85)))] = PALETTE.index("brown")
    grey = (s < 0.15) | (c < 0.08)
    out[grey] = PALETTE.index("grey")
    out[grey & (v > 0.85)] = PALETTE.index("white")
    out[v < 0.18] = PALETTE.index("black")
    return out


def color_name(codes: np.ndarray) -> str:
    """The most frequent colour name among ``codes`` (ties: the first in :data:`PALETTE`)."""
    counts = np.bincount(np.asarray(codes, dtype=np.int64).ravel(), minlength=len(PALETTE))
    return PALETTE[int(np.argmax(counts))]


def border_mask(height: int, width: int, share: float = BORDER_SHARE) -> np.ndarray:
    """Boolean mask of the outer band (``share`` of each side, at least one pixel)."""
    bh, bw = max(1, int(round(share * height))), max(1, int(round(share * width)))
    mask = np.ones((height, width), dtype=bool)
    mask[bh:height - bh, bw:width - bw] = False
    return mask


def image_statistics(rgb: np.ndarray, codes: np.ndarray | None = None) -> dict:
    r"""Brightness, contrast, colourfulness and dominant colours of an RGB array.

    * ``brightness``: mean luma :math:`Y = 0.299R + 0.587G + 0.114B` (ITU-R BT.601), 0-255.
    * ``contrast``: RMS contrast, the standard deviation of *Y*.
    * ``colorfulness``: Hasler & Süsstrunk (2003),
      :math:`M = \sqrt{\sigma_{rg}^2 + \sigma_{yb}^2} + 0.3\sqrt{\mu_{rg}^2 + \mu_{yb}^2}` with
      :math:`rg = R - G`, :math:`yb = (R + G)/2 - B`.
    * ``dominant_color`` / ``border_color``: the most frequent :data:`PALETTE` name over the whole
      image / over its outer band (:func:`border_mask`), a cheap background proxy.

    References
    ----------
    Hasler, D. & Süsstrunk, S. (2003). Measuring colourfulness in natural images. Proc. SPIE 5007, 87-95.
    """
    x = np.asarray(rgb, dtype=np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    rg, yb = r - g, 0.5 * (r + g) - b
    codes = color_codes(rgb) if codes is None else codes
    mask = border_mask(*codes.shape)
    return {
        "brightness": round(float(y.mean()), 3),
        "contrast": round(float(y.std()), 3),
        "colorfulness": round(float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())), 3),
        "dominant_color": color_name(codes),
        "border_color": color_name(codes[mask]),
    }


def _exif(im: Image.Image) -> tuple[dict, int, str | None]:
    """camera make/model, capture date, GPS present; the orientation tag; an error reason or None."""
    try:
        exif = im.getexif()
        if not exif:
            raw = im.info.get("exif") or b""
            if len(raw) > 8:  # an EXIF block is there but no tag could be read from it
                return {}, 1, f"unreadable EXIF (no valid tag in its {len(raw)}-byte block; pixels kept)"
            return {}, 1, None
        out = {}
        for key, tag in (("camera_make", _MAKE), ("camera_model", _MODEL)):
            v = exif.get(tag)
            if isinstance(v, bytes):
                v = v.decode("latin-1")
            if isinstance(v, str) and v.strip("\x00 "):
                out[key] = v.strip("\x00 ")
        when = exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
        if isinstance(when, str):
            try:
                stamp = datetime.strptime(when.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
                out["capture_date"], out["capture_year"] = stamp.date().isoformat(), stamp.year
            except ValueError:
                pass
        out["gps_present"] = bool(exif.get_ifd(_GPS_IFD))
        orientation = exif.get(_ORIENTATION_TAG, 1)
        return out, orientation if orientation in _TRANSPOSE else 1, None
    except Exception as exc:  # malformed EXIF must not lose the picture
        return {}, 1, f"unreadable EXIF ({type(exc).__name__}: {exc})"


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, im).convert("RGB")
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        a = np.asarray(im, dtype=np.float64)
        top = a.max() if a.size and a.max() > 255 else 255.0
        im = Image.fromarray(np.clip(a / top * 255.0, 0, 255).astype(np.uint8), "L")
    return im.convert("RGB")


def read_image(path: str, features: bool = True) -> tuple[dict, np.ndarray | None, list[str]]:
    """Attributes of one image file.

    Parameters
    ----------
    path : str
        A regular file (the caller checked that it lies inside the allowed root).
    features : bool
        Also compute the probe feature vector (border and centre regions).

    Returns
    -------
    attributes : dict
        file_size, and unless the file is unreadable: width, height, aspect_ratio, orientation,
        megapixels, format, mode, brightness, contrast, colorfulness, dominant_color, border_color and
        the EXIF fields present.  ``image_error`` holds the reason when the pixels could not be read.
    probe : ndarray of shape (2, n_features) or None
    problems : list of str
        Reasons for skipped parts (the image error, or unreadable EXIF with the pixels kept).
    """

    rec: dict = {"file_size": os.stat(path).st_size}
    if rec["file_size"] == 0:
        return {**rec, "image_error": "empty file (0 bytes)"}, None, ["empty file (0 bytes)"]
    try:
        with Image.open(path) as im:
            w, h = im.size
            exif, orientation, exif_error = _exif(im)
            if orientation >= 5:
                w, h = h, w
            shape = "square" if abs(w - h) <= 0.02 * max(w, h) else ("landscape" if w > h else "portrait")
            rec.update(width=w, height=h, aspect_ratio=round(w / h, 3) if h else np.nan, orientation=shape,
                       megapixels=round(w * h / 1e6, 3), format=im.format, mode=im.mode)
            if im.format == "JPEG":
                im.draft("RGB", (WORK_SIZE, WORK_SIZE))
            elif im.mode.startswith("I;16") or im.mode in ("I", "F"):  # shrink at native depth first:
                im = im.resize((WORK_SIZE, WORK_SIZE), Image.Resampling.BOX)  # never a full-size float copy
            small = _to_rgb(im)
            if small.size != (WORK_SIZE, WORK_SIZE):
                small = small.resize((WORK_SIZE, WORK_SIZE), Image.Resampling.BOX, reducing_gap=2.0)
            if orientation != 1:
                small = small.transpose(_TRANSPOSE[orientation])
            rgb = np.asarray(small, dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        return _fail(rec, f"decompression bomb refused ({exc})")
    except Image.DecompressionBombWarning as exc:  # raised as an error by the caller's warning filter
        return _fail(rec, f"decompression bomb refused ({exc})")
    except UnidentifiedImageError:
        return _fail(rec, "not an image Pillow can read")
    except Exception as exc:  # truncated data, bad chunks, unsupported modes: the scan goes on
        return _fail(rec, f"corrupt or truncated image ({type(exc).__name__}: {exc})")
    codes = color_codes(rgb)
    rec.update(image_statistics(rgb, codes))
    rec.update(exif)
    problems = [exif_error] if exif_error else []
    probe = region_features(rgb, codes) if features else None
    return rec, probe, problems


def _fail(rec: dict, reason: str):
    return {**rec, "image_error": reason}, None, [reason]


# ----------------------------------------------------------------------------- probe features
#: Fixed 3x3 kernels: horizontal and vertical edges (Sobel), Laplacian, sharpen.
KERNELS = {
    "sobel_x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64),
    "sobel_y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float64),
    "laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64),
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float64),
}
REGIONS = ("border", "centre")
_GRID = 4
_SIZE = 64
N_FEATURES = 11 + 6 + len(KERNELS) * _GRID * _GRID


def _masks(size: int = _SIZE) -> dict[str, np.ndarray]:
    band, lo, hi = size // 8, size // 4, size - size // 4
    border = np.ones((size, size), dtype=bool)
    border[band:size - band, band:size - band] = False
    centre = np.zeros((size, size), dtype=bool)
    centre[lo:hi, lo:hi] = True
    return {"border": border, "centre": centre}


_MASKS = _masks()


def _inside(mask: np.ndarray) -> np.ndarray:
    """Positions of the valid 3x3 convolution whose whole window lies in ``mask``."""
    h, w = mask.shape
    out = np.ones((h - 2, w - 2), dtype=bool)
    for a in range(3):
        for b in range(3):
            out &= mask[a:a + h - 2, b:b + w - 2]
    return out


_INSIDE = {k: _inside(m) for k, m in _MASKS.items()}
_EDGES = np.linspace(0, _SIZE - 2, _GRID + 1).astype(int)[:-1]
_KERNEL_MATRIX = np.stack([k.ravel() for k in KERNELS.values()]).astype(np.float32)  # 4 x 9


def region_features(rgb: np.ndarray, codes: np.ndarray | None = None) -> np.ndarray:
    """Probe features of a 64x64 RGB image: one row per region of :data:`REGIONS`.

    Kernel responses are computed once on the luma; a region keeps only the positions whose whole
    3x3 window lies inside it, so the masked part of the image cannot leak into its features.

    Parameters
    ----------
    rgb : ndarray of shape (64, 64, 3), uint8
    codes : ndarray of shape (64, 64), optional
        Palette codes of the pixels (:func:`biasaudit.loaders.pixels.color_codes`), if already computed.

    Returns
    -------
    ndarray of shape (2, N_FEATURES), float32
    """
    x = np.asarray(rgb, dtype=np.float32) * np.float32(1 / 255)
    if x.shape != (_SIZE, _SIZE, 3):
        raise ValueError(f"The 'rgb' parameter of region_features must have shape (64, 64, 3). Got {x.shape} instead.")
    if codes is None:
        codes = color_codes(rgb)
    luma = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    m = _SIZE - 2
    shifted = np.stack([luma[a:a + m, b:b + m] for a in range(3) for b in range(3)])  # 9 x m x m
    resp = np.abs(np.einsum("kn,nij->kij", _KERNEL_MATRIX, shifted))  # 4 x m x m (no BLAS threads)
    rows = []
    for region in REGIONS:
        mask = _MASKS[region]
        pix = x[mask]
        hist = np.bincount(codes[mask].astype(np.int64), minlength=len(PALETTE)) / mask.sum()
        kept = resp * _INSIDE[region]
        pooled = np.maximum.reduceat(np.maximum.reduceat(kept, _EDGES, axis=1), _EDGES, axis=2)
        rows.append(np.concatenate([hist, pix.mean(axis=0), pix.std(axis=0), pooled.ravel()]))
    return np.asarray(rows, dtype=np.float32)
