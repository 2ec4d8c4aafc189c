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

from .. import stats
from ..findings import BiasType, DetectorResult, Finding

__all__ = ["KERNELS", "REGIONS", "region_features", "permutation_probe", "image_probe", "N_FEATURES"]

from ..loaders.pixels import KERNELS, N_FEATURES, REGIONS, region_features  # noqa: E402  (re-exported)


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
        predictions (held-out), folds (fold of every row), null (the permutation scores), n_folds,
        n_permutations.

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
    fits = []  # per fold: held-out rows, training rows, standardised held-out X, ridge solution map (d x n_tr)
    for f in range(n_folds):
        tr, te = fold != f, fold == f
        mu, sd = X[tr].mean(axis=0), X[tr].std(axis=0)
        sd[sd == 0] = 1.0
        xtr, xte = (X[tr] - mu) / sd, (X[te] - mu) / sd
        fits.append((te, tr, xte, np.linalg.solve(xtr.T @ xtr + ridge * np.eye(d), xtr.T)))
    n_cols = n_permutations + 1
    block = max(1, int(4e6 // max(1, n * max(1, k_cls - 1))))  # ~32 MB of one-hot labels at a time
    ba = np.empty(n_cols)
    first_pred = None
    for start in range(0, n_cols, block):
        nb = min(block, n_cols - start)
        # column 0 of the first block is the real labelling; the others are random relabellings
        labels = np.column_stack([y if start + j == 0 else y[rng.permutation(n)] for j in range(nb)])
        pred = np.empty_like(labels)
        for te, tr, xte, solve in fits:
            # scores of the first K-1 classes; the last is 1 minus their sum (one-hot rows sum to 1)
            km = k_cls - 1
            onehot = (labels[tr][:, :, None] == np.arange(km)).astype(np.float64).reshape(int(tr.sum()), nb * km)
            mean = onehot.mean(axis=0)
            part = (xte @ (solve @ (onehot - mean)) + mean).reshape(-1, nb, km)
            pred[te] = np.concatenate([part, 1.0 - part.sum(axis=2, keepdims=True)], axis=2).argmax(axis=2)
        recall = np.zeros(nb)
        for c in range(k_cls):
            is_c = labels == c
            recall += (is_c & (pred == c)).sum(axis=0) / is_c.sum(axis=0)
        ba[start:start + nb] = recall / k_cls
        if start == 0:
            first_pred = pred[:, 0].copy()
    observed, null = float(ba[0]), ba[1:]
    confusion = np.zeros((k_cls, k_cls), dtype=np.int64)
    np.add.at(confusion, (y, first_pred), 1)
    return {"score": observed, "chance": 1.0 / k_cls,
            "p_value": float((1 + np.sum(null >= observed - 1e-12)) / (1 + n_permutations)),
            "p_min": 1.0 / (1 + n_permutations), "null_mean": float(null.mean()) if len(null) else math.nan,
            "null_q95": float(np.quantile(null, 0.95)) if len(null) else math.nan,
            "confusion": confusion, "predictions": first_pred, "folds": fold, "null": null,
            "n_folds": n_folds, "n_permutations": n_permutations}


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
            im.draft("RGB", (64, 64))
            im = im.convert("RGB")
            im.thumbnail((64, 64))
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=80)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    except Exception:
        return None


def image_probe(ctx, *, n_permutations: int = 999, n_examples: int = 3) -> DetectorResult:
    """Detector: does the image border alone predict the label?  No-op on data without pixels.

    Runs :func:`permutation_probe` on the border features and on the centre features of every
    readable image (``ctx.raw.attrs["biasaudit_images"]``, matched to the rows by index label).
    The border result is one hypothesis of the scan's family: its p-value is the permutation
    p-value (p_min = 1/(B+1); B = 999, or 199 above 20,000 images), its effect the bias-corrected
    Cramér's V of the held-out confusion table (true x predicted label), graded with
    ``stats.effect_level("cramers_v")``; the pattern holds when the balanced accuracy exceeds
    chance by 0.1 and V >= 0.1.

    Returns
    -------
    DetectorResult
        One ``learned_rule`` finding (in the family, graded by the audit) and a report section
        with both regions' accuracies and example images of each class.
    """
    info = ctx.raw.attrs.get("biasaudit_images") if hasattr(ctx.raw, "attrs") else None
    if info is None or getattr(info, "features", None) is None:
        return DetectorResult()
    label = ctx.roles.label
    y_text = _label_text(ctx.raw[label]).to_numpy(dtype=object)
    paths, feats = info.rows(ctx.raw.index)  # matched by index label: the frame may have been filtered
    feats = np.asarray(feats, dtype=np.float64)
    ok = pd.notna(y_text) & np.isfinite(feats).all(axis=(1, 2))
    values = [v for v in ctx.roles.label_values if v in set(y_text[ok])]
    code_of = {v: i for i, v in enumerate(values)}
    y = np.array([code_of.get(v, -1) for v in y_text], dtype=np.int64)
    ok &= y >= 0
    counts = np.bincount(y[ok], minlength=len(values))
    if len(values) < 2 or counts.min() < 2 or ok.sum() < 10:
        section = {"title": "Image probe", "text": [f"Image probe skipped: {int(ok.sum())} readable images "
                                                    f"with a label; it needs 10 and two per class."]}
        return DetectorResult((), section)
    runs = {}
    if ok.sum() > 20000:  # keeps the probe to seconds on large folders; p_min 0.005 is still testable
        n_permutations = min(n_permutations, 199)
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
    pattern = bool(b["score"] >= b["chance"] + 0.1 and v >= 0.1)
    msg = (f"The image border alone (centre masked, where the object rarely is) predicts {label} with "
           f"{b['score']:.0%} balanced accuracy (chance {b['chance']:.0%}, {n} images, permutation "
           f"p={b['p_value']:.3g}; centre alone {c['score']:.0%}): " + _border_verdict(pattern, b["p_value"],
                                                                                   ctx.settings.alpha))
    typical = np.zeros(len(y), dtype=bool)
    typical[np.flatnonzero(ok)] = b["predictions"] == y[ok]  # examples the border alone gets right
    examples = _examples(info.root, paths, typical, y, values, n_examples)
    finding = Finding(
        id=f"image_probe:border:label={label}", bias_type=BiasType.LEARNED_RULE.value, detector="image_probe",
        attributes={"image_border": None}, message=msg, label_value=None, kind="shortcut",
        test=f"permutation test of cross-validated balanced accuracy ({b['n_folds']}-fold ridge, "
             f"{n_permutations} permutations)",
        statistic=b["score"], p_value=b["p_value"], p_min=b["p_min"], testable=b["p_min"] <= ctx.settings.alpha,
        in_family=True, effect_size=v, effect_size_name="cramers_v", effect_level=level, n=n,
        observed=b["score"], expected=b["chance"], pattern=pattern,
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
    return DetectorResult((finding,), section)


def _border_verdict(pattern: bool, p: float, alpha: float) -> str:
    """What the border result means, in words that match it (the audit adds the corrected verdict)."""
    if not pattern:
        return "close to chance, so the backgrounds give no sign of differing by class"
    if p > alpha:
        return ("the backgrounds may differ by class (a shortcut a model could learn), but not beyond what "
                "chance gives at this n")
    return "the backgrounds differ by class, a shortcut a model can learn"


def _summary(run: dict, values: list) -> dict:
    return {"balanced_accuracy": run["score"], "chance": run["chance"], "p_value": run["p_value"],
            "null_mean": run["null_mean"], "null_q95": run["null_q95"], "labels": list(values),
            "confusion": run["confusion"].tolist()}


def _examples(root: str, paths: list, ok: np.ndarray, y: np.ndarray, values: list, n_examples: int) -> list[dict]:
    out = []
    for code, value in enumerate(values):
        for i in np.flatnonzero(ok & (y == code))[:n_examples]:
            if paths[i] is not None:
                out.append({"label": value, "path": str(paths[i]), "thumbnail": _thumbnail(Path(root) / paths[i])})
    return out
