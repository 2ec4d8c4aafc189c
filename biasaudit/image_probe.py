"""Where the pictures' label lives: a background-only / centre-only probe (no deep network).

The lecture explains what convolutions see; this probe uses a handful of *fixed* 3x3 kernels
instead of learned ones.  Every image is reduced to a 64x64 square and described twice, once
from its border band alone (centre masked) and once from its centre alone (border masked):

* the share of its pixels of each of the 11 palette colours, the mean and standard deviation of
  R, G and B;
* the absolute responses of four fixed 3x3 kernels (Sobel x, Sobel y, Laplacian, sharpen) on the
  luma, kept only where the kernel window lies inside the region, max-pooled over a 4x4 grid.

A ridge classifier is cross-validated on each description; its balanced accuracy is compared
with the same classifier on permuted labels.  When the border alone predicts the label far above
chance the pictures carry a background shortcut: a ``learned_rule`` finding.
"""
from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from . import stats
from .findings import BiasType, Finding

__all__ = ["KERNELS", "REGIONS", "region_features", "permutation_probe", "image_probe", "N_FEATURES"]

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


def region_features(rgb: np.ndarray) -> np.ndarray:
    """Probe features of a 64x64 RGB image: one row per region of :data:`REGIONS`.

    Parameters
    ----------
    rgb : ndarray of shape (64, 64, 3), uint8

    Returns
    -------
    ndarray of shape (2, N_FEATURES), float32
    """
    from .loaders.pixels import PALETTE, color_codes

    x = np.asarray(rgb, dtype=np.float64) / 255.0
    if x.shape != (_SIZE, _SIZE, 3):
        raise ValueError(f"The 'rgb' parameter of region_features must have shape (64, 64, 3). Got {x.shape} instead.")
    luma = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
    codes = color_codes(rgb)
    rows = []
    for region in REGIONS:
        mask = _MASKS[region]
        pix = x[mask]
        hist = np.bincount(codes[mask].astype(np.int64), minlength=len(PALETTE)) / mask.sum()
        filled = np.where(mask, luma, luma[mask].mean())
        parts = [hist, pix.mean(axis=0), pix.std(axis=0)]
        for kernel in KERNELS.values():
            resp = np.zeros((_SIZE - 2, _SIZE - 2))
            for a in range(3):
                for b in range(3):
                    if kernel[a, b]:
                        resp += kernel[a, b] * filled[a:a + _SIZE - 2, b:b + _SIZE - 2]
            resp = np.abs(resp) * _INSIDE[region]
            pooled = np.maximum.reduceat(np.maximum.reduceat(resp, _EDGES, axis=0), _EDGES, axis=1)
            parts.append(pooled.ravel())
        rows.append(np.concatenate(parts))
    return np.asarray(rows, dtype=np.float32)


def _folds(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Stratified fold number of every row."""
    fold = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        fold[rng.permutation(idx)] = np.arange(len(idx)) % k
    return fold


def permutation_probe(X: np.ndarray, y: np.ndarray, *, n_permutations: int = 999, n_folds: int = 5,
                      ridge: float = 10.0, random_state: int = 0) -> dict:
    r"""Cross-validated balanced accuracy of a ridge classifier and its permutation p-value.

    Features are standardised on each training fold; the classifier regresses the one-hot label
    on them, :math:`W = (X^\top X + \lambda I)^{-1} X^\top Y` (centred, intercept the class
    shares), and predicts the class with the largest score.  The statistic is the balanced
    accuracy :math:`\frac1K\sum_c P(\hat y = c \mid y = c)` over the held-out predictions.  The
    same folds are refitted on ``n_permutations`` random relabellings (all at once, since only
    *Y* changes) and

    .. math:: p = \frac{1 + \#\{b : T_b \ge T_{obs}\}}{1 + B},

    so the smallest attainable p-value is :math:`1/(B+1)` (Phipson & Smyth 2010; Ojala & Garriga 2010).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    y : ndarray of shape (n,)
        Integer class codes 0..K-1, every class with at least two rows.

    Returns
    -------
    dict
        score, chance (1/K), p_value, p_min, null_mean, null_q95, confusion (K x K, true x predicted),
        predictions, n_folds, n_permutations.

    References
    ----------
    Ojala, M. & Garriga, G. C. (2010). Permutation tests for studying classifier performance. JMLR 11, 1833-1863.
    Phipson, B. & Smyth, G. K. (2010). Permutation p-values should never be zero. Stat. Appl. Genet. Mol. Biol. 9(1).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    n, d = X.shape
    k_cls = int(y.max()) + 1
    rng = np.random.default_rng(random_state)
    n_folds = int(min(n_folds, np.bincount(y).min()))
    if n_folds < 2:
        raise ValueError("Every class needs at least two images for the probe's cross-validation.")
    fold = _folds(y, n_folds, rng)
    labels = np.column_stack([y] + [y[rng.permutation(n)] for _ in range(n_permutations)])
    n_cols = labels.shape[1]
    pred = np.empty_like(labels)
    block = max(1, int(2e7 // max(1, n * k_cls)))
    for f in range(n_folds):
        tr, te = fold != f, fold == f
        mu, sd = X[tr].mean(axis=0), X[tr].std(axis=0)
        sd[sd == 0] = 1.0
        xtr, xte = (X[tr] - mu) / sd, (X[te] - mu) / sd
        solve = np.linalg.solve(xtr.T @ xtr + ridge * np.eye(d), xtr.T)  # d x n_tr
        for start in range(0, n_cols, block):
            lab = labels[tr, start:start + block]
            onehot = (lab[:, :, None] == np.arange(k_cls)).astype(np.float64)  # n_tr x B x K
            mean = onehot.mean(axis=0)
            w = np.einsum("dn,nbk->dbk", solve, onehot - mean)
            scores = np.einsum("nd,dbk->nbk", xte, w) + mean
            pred[te, start:start + block] = scores.argmax(axis=2)
    recall = np.zeros(n_cols)
    for c in range(k_cls):
        is_c = labels == c
        recall += (is_c & (pred == c)).sum(axis=0) / is_c.sum(axis=0)
    ba = recall / k_cls
    observed, null = float(ba[0]), ba[1:]
    confusion = np.zeros((k_cls, k_cls), dtype=np.int64)
    np.add.at(confusion, (y, pred[:, 0]), 1)
    return {"score": observed, "chance": 1.0 / k_cls,
            "p_value": float((1 + np.sum(null >= observed - 1e-12)) / (1 + n_permutations)),
            "p_min": 1.0 / (1 + n_permutations), "null_mean": float(null.mean()) if len(null) else math.nan,
            "null_q95": float(np.quantile(null, 0.95)) if len(null) else math.nan,
            "confusion": confusion, "predictions": pred[:, 0], "n_folds": n_folds, "n_permutations": n_permutations}


def _label_text(s: pd.Series) -> pd.Series:
    def fmt(v):
        if isinstance(v, (bool, np.bool_)):
            return "true" if v else "false"
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        return str(v)
    return s.map(lambda v: np.nan if pd.isna(v) else fmt(v))


def _thumbnail(path: Path) -> str | None:
    from PIL import Image
    try:
        with Image.open(path) as im:
            im.draft("RGB", (96, 96))
            im = im.convert("RGB")
            im.thumbnail((96, 96))
            buf = io.BytesIO()
            im.save(buf, format="PNG")
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    except Exception:
        return None


def image_probe(ctx, *, n_permutations: int = 999, n_examples: int = 3):
    """Detector: does the image border alone predict the label?  No-op on data without pixels.

    Returns
    -------
    (list of Finding, dict)
        One ``learned_rule`` finding (in the family, graded by the audit) and a report section
        with both regions' accuracies and example images of each class.
    """
    info = ctx.raw.attrs.get("biasaudit_images") if hasattr(ctx.raw, "attrs") else None
    if info is None or getattr(info, "features", None) is None:
        return []
    label = ctx.roles.label
    y_text = _label_text(ctx.raw[label]).to_numpy(dtype=object)
    feats = np.asarray(info.features, dtype=np.float64)
    ok = pd.notna(y_text) & np.isfinite(feats).all(axis=(1, 2))
    values = [v for v in ctx.roles.label_values if v in set(y_text[ok])]
    code_of = {v: i for i, v in enumerate(values)}
    y = np.array([code_of.get(v, -1) for v in y_text], dtype=np.int64)
    ok &= y >= 0
    counts = np.bincount(y[ok], minlength=len(values))
    if len(values) < 2 or counts.min() < 2 or ok.sum() < 10:
        section = {"title": "Image probe", "text": [f"Image probe skipped: {int(ok.sum())} readable images "
                                                    f"with a label; it needs 10 and two per class."]}
        return [], section
    runs = {}
    for r, region in enumerate(REGIONS):
        runs[region] = permutation_probe(feats[ok, r, :], y[ok], n_permutations=n_permutations,
                                         random_state=ctx.settings.random_state + 7001)
    b, c = runs["border"], runs["centre"]
    conf = b["confusion"]
    v = stats.cramers_v(conf)
    v = 0.0 if v is None or not math.isfinite(v) else float(v)
    dof_star = min(conf.shape) - 1
    level = stats.effect_level("cramers_v", v, dof_star=dof_star)
    n = int(ok.sum())
    msg = (f"The image border alone (centre masked) predicts {label} with {b['score']:.0%} balanced accuracy "
           f"(chance {b['chance']:.0%}, {n} images, permutation p={b['p_value']:.3g}); the centre alone reaches "
           f"{c['score']:.0%}: the pictures carry a background shortcut a model can learn")
    examples = _examples(info, ok, y, values, n_examples)
    finding = Finding(
        id=f"image_probe:border:label={label}", bias_type=BiasType.LEARNED_RULE.value, detector="image_probe",
        attributes={"image_border": None}, message=msg, label_value=None, kind="shortcut",
        test=f"permutation test of cross-validated balanced accuracy ({b['n_folds']}-fold ridge, "
             f"{n_permutations} permutations)",
        statistic=b["score"], p_value=b["p_value"], p_min=b["p_min"], testable=b["p_min"] <= ctx.settings.alpha,
        in_family=True, effect_size=v, effect_size_name="cramers_v", effect_level=level, n=n,
        observed=b["score"], expected=b["chance"], pattern=bool(b["score"] >= b["chance"] + 0.1 and v >= 0.1),
        evidence=tuple({"label": e["label"], "path": e["path"]} for e in examples),
        suggestion=("Look at example images of each class: if their backgrounds differ, collect each class on "
                    "every background (or crop / mask the background) before training, and evaluate per "
                    "background group (worst-group accuracy)."),
        details={"border": _summary(b, values), "centre": _summary(c, values),
                 "features": f"{N_FEATURES} per region: palette shares, RGB mean/sd, |3x3 kernel| max-pooled 4x4"},
    )
    text = [f"Image probe ({n} images): border-only balanced accuracy {b['score']:.0%} (p={b['p_value']:.3g}), "
            f"centre-only {c['score']:.0%} (p={c['p_value']:.3g}); chance {b['chance']:.0%}."]
    section = {"title": "Image probe: background vs centre", "text": text,
               "border": _summary(b, values), "centre": _summary(c, values), "examples": examples}
    return [finding], section


def _summary(run: dict, values: list) -> dict:
    return {"balanced_accuracy": run["score"], "chance": run["chance"], "p_value": run["p_value"],
            "null_mean": run["null_mean"], "null_q95": run["null_q95"], "labels": list(values),
            "confusion": run["confusion"].tolist()}


def _examples(info, ok: np.ndarray, y: np.ndarray, values: list, n_examples: int) -> list[dict]:
    out = []
    paths = getattr(info, "paths", None)
    if paths is None:
        return out
    for code, value in enumerate(values):
        for i in np.flatnonzero(ok & (y == code))[:n_examples]:
            p = paths[i]
            if p is None:
                continue
            out.append({"label": value, "path": str(p), "thumbnail": _thumbnail(Path(info.root) / p)})
    return out
