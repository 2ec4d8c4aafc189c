"""Synthetic DOGS & CATS data with planted biases (STATISTICS.md §10).

The generator scales the lecture's 14-row KURI/PUSI table up to any ``n`` and plants every
bias the lecture talks about, so that detectors can be calibrated (null model) and their power
measured (planted model); see STATISTICS.md §8 and §11.
"""
from __future__ import annotations

import itertools
import numbers
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "BASE_COLORS",
    "COLUMNS",
    "generate_dogs_cats",
    "reference_dogs_cats",
    "reference_dogs_cats_joint",
    "write_reference_csv",
]

#: Base coat colours and their probabilities, in "base order" (two-colour names follow it).
BASE_COLORS = ("black", "brown", "red", "white")
BASE_P = np.array([0.30, 0.30, 0.15, 0.25])
#: Columns of :func:`generate_dogs_cats`, the label ``species`` last.
COLUMNS = ("id", "size", "color", "multicolor", "weight_kg", "photo_hash", "species")

P_DOG = 0.5  # before selection
P_BIG_DOG = 0.5  # cats are never big (planted)
P_MULTI_CAT = 0.25  # dogs are never multicoloured (planted)
P_BIG = P_DOG * P_BIG_DOG  # 0.25, marginal used by the null model
P_MULTI = (1 - P_DOG) * P_MULTI_CAT  # 0.125, marginal used by the null model
#: Median weight in kg of each (species, size); planted model.
MEDIAN_KG = {("DOG", "big"): 28.0, ("DOG", "small"): 9.0, ("CAT", "small"): 4.2}
#: sigma of log(weight): a factor exp(0.25) ~ 1.28 around the median covers ~68 % of animals,
#: so the three groups overlap a little but stay clearly apart.
WEIGHT_SIGMA = 0.25
#: Null model: one log-normal for everyone (independent of species, size and colour).
NULL_MEDIAN_KG, NULL_WEIGHT_SIGMA = 9.0, 0.8
P_MISSING = {"DOG": 0.02, "CAT": 0.10}
P_MISSING_NULL = 0.05
DUPLICATE_SHARE = 0.01


def _pair_probabilities() -> dict[str, Fraction]:
    """P(coat = {i, j}) for two distinct base colours drawn without replacement, proportional to p.

    P({i, j}) = p_i p_j / (1 - p_i) + p_j p_i / (1 - p_j)  (i first, or j first); exact fractions.
    """
    p = [Fraction(str(x)) for x in BASE_P]
    out = {}
    for i, j in itertools.combinations(range(len(BASE_COLORS)), 2):
        out[f"{BASE_COLORS[i]}-{BASE_COLORS[j]}"] = p[i] * p[j] / (1 - p[i]) + p[j] * p[i] / (1 - p[j])
    return out


def _categorical(u: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw: index of the category each uniform ``u`` falls into (``probs`` rows sum to 1)."""
    cdf = np.cumsum(probs, axis=-1)
    idx = (u[:, None] >= np.broadcast_to(cdf, (len(u), probs.shape[-1]))).sum(axis=1)
    return np.minimum(idx, probs.shape[-1] - 1)


def _draw(rng: np.random.Generator, m: int, planted: bool) -> pd.DataFrame:
    """Draw ``m`` candidate animals before selection (all columns except ``id``)."""
    dog = rng.random(m) < P_DOG
    if planted:
        big = dog & (rng.random(m) < P_BIG_DOG)
        multi = ~dog & (rng.random(m) < P_MULTI_CAT)
    else:
        big = rng.random(m) < P_BIG
        multi = rng.random(m) < P_MULTI
    first = _categorical(rng.random(m), BASE_P)
    rest = np.tile(BASE_P, (m, 1))
    rest[np.arange(m), first] = 0.0
    second = _categorical(rng.random(m), rest / rest.sum(axis=1, keepdims=True))
    lo, hi = np.minimum(first, second), np.maximum(first, second)
    names = np.array(BASE_COLORS, dtype=object)
    color = np.where(multi, names[lo] + "-" + names[hi], names[first])

    z = rng.standard_normal(m)
    if planted:
        median = np.where(dog, np.where(big, MEDIAN_KG["DOG", "big"], MEDIAN_KG["DOG", "small"]),
                          MEDIAN_KG["CAT", "small"])
        weight = median * np.exp(WEIGHT_SIGMA * z)
        p_missing = np.where(dog, P_MISSING["DOG"], P_MISSING["CAT"])
    else:
        weight = NULL_MEDIAN_KG * np.exp(NULL_WEIGHT_SIGMA * z)
        p_missing = np.full(m, P_MISSING_NULL)
    weight = np.round(weight, 1)
    weight[rng.random(m) < p_missing] = np.nan
    hexes = rng.bytes(8 * m).hex()
    return pd.DataFrame({
        "size": np.where(big, "big", "small"),
        "color": color,
        "multicolor": np.where(multi, "yes", "no"),
        "weight_kg": weight,
        "photo_hash": [hexes[16 * k:16 * (k + 1)] for k in range(m)],
        "species": np.where(dog, "DOG", "CAT"),
    })


def generate_dogs_cats(n: int, *, seed: int = 0, planted: bool = True) -> pd.DataFrame:
    """Generate a synthetic DOGS & CATS table, with or without planted biases.

    Parameters
    ----------
    n : int
        Number of rows returned (duplicates included).
    seed : int, default 0
        Seed of ``numpy.random.default_rng``; the same seed gives an identical frame.
    planted : bool, default True
        ``True``: the planted model of STATISTICS.md §10. ``False``: the null model.

    Returns
    -------
    pandas.DataFrame of shape (n, 7)
        Columns ``id`` ("D000001", ...), ``size`` (big/small), ``color`` (a base colour or a
        two-colour name such as "black-white"), ``multicolor`` (yes/no), ``weight_kg`` (float,
        NaN when missing), ``photo_hash`` (16 hex digits) and the label ``species`` (DOG/CAT).

    Notes
    -----
    Base colours: black .30, brown .30, red .15, white .25. A two-colour coat is two distinct
    base colours drawn without replacement proportional to p, named in base order.

    *Planted* model, before selection: P(DOG) = .5; a dog is big with probability .5, a cat
    is always small; a dog is always one colour, a cat is multicoloured with probability .25;
    single colours follow the base distribution for both species. *Selection*: a small white
    dog is never recorded (rejection sampling until ``n - n_dup`` animals are kept).
    ``weight_kg`` is log-normal, ``exp(log(median) + 0.25 Z)``, with medians 28 kg (big dog),
    9 kg (small dog) and 4.2 kg (cat), rounded to 0.1 kg, and missing with probability .10
    (cat) or .02 (dog). Finally ``n_dup = round(0.01 n)`` distinct kept rows are appended
    again as exact copies (same ``photo_hash``) with new ids.

    *Null* model: species, size and colour are independent with the same marginals
    (P(DOG) = .5, P(big) = .25, P(multicolour) = .125); no selection; ``weight_kg`` is one
    log-normal for everybody (median 9 kg, sigma 0.8), missing with probability .05; no duplicates.

    After selection the planted sample has P(DOG) = .4375 / .9375 = .4667 and no
    (DOG, small, white), big CAT or multicoloured DOG rows.

    Examples
    --------
    >>> df = generate_dogs_cats(2000, seed=0)
    >>> df.shape
    (2000, 7)
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"The 'n' parameter of generate_dogs_cats must be an int >= 0. Got {n!r} instead.")
    n = int(n)
    rng = np.random.default_rng(seed)
    n_dup = int(round(DUPLICATE_SHARE * n)) if planted else 0
    n_keep = n - n_dup
    parts, kept = [], 0
    while kept < n_keep:
        batch = _draw(rng, int(n_keep / 0.9 + 64), planted)
        if planted:  # selection: (DOG, small, white) is never recorded
            batch = batch[~((batch["species"] == "DOG") & (batch["size"] == "small")
                            & (batch["color"] == "white"))]
        parts.append(batch)
        kept += len(batch)
    df = pd.concat(parts, ignore_index=True).iloc[:n_keep] if parts else _draw(rng, 0, planted)
    if n_dup:
        copies = np.sort(rng.choice(n_keep, size=n_dup, replace=False))
        df = pd.concat([df, df.iloc[copies]], ignore_index=True)
    df.insert(0, "id", [f"D{i:06d}" for i in range(1, len(df) + 1)])
    return df.loc[:, list(COLUMNS)].reset_index(drop=True)


def _joint_cells() -> list[tuple[str, str, str, Fraction]]:
    """(size, color, species, exact share) of every pre-selection cell with share > 0."""
    pairs = _pair_probabilities()
    p_dog, p_big_dog, p_multi_cat = (Fraction(str(x)) for x in (P_DOG, P_BIG_DOG, P_MULTI_CAT))
    cells = []
    for species, p_s, p_big, p_multi in (("DOG", p_dog, p_big_dog, Fraction(0)),
                                         ("CAT", 1 - p_dog, Fraction(0), p_multi_cat)):
        colors = {c: Fraction(str(p)) * (1 - p_multi) for c, p in zip(BASE_COLORS, BASE_P)}
        colors.update({c: p * p_multi for c, p in pairs.items()})
        for size, p_size in (("big", p_big), ("small", 1 - p_big)):
            cells += [(size, c, species, p_s * p_size * p_c) for c, p_c in colors.items() if p_size * p_c > 0]
    return cells


def reference_dogs_cats_joint() -> pd.DataFrame:
    """Pre-selection population of the planted model as a joint table (STATISTICS.md §2.2).

    Returns
    -------
    pandas.DataFrame
        Columns ``size``, ``color``, ``species``, ``share``: the 18 cells with share > 0
        (8 dog cells: 2 sizes x 4 single colours; 10 cat cells: small x (4 single colours + 6 pairs)).
        Cells that are absent (big cat, multicoloured dog) are structural zeros.

    Notes
    -----
    Computed analytically in exact fractions: share = P(species) P(size | species) P(color | species),
    with P(single c) = p_c (1 - P(multi | species)) and P(pair {i, j}) = P(multi | species)
    (p_i p_j / (1 - p_i) + p_i p_j / (1 - p_j)).
    """
    rows = [(size, color, species, float(share)) for size, color, species, share in _joint_cells()]
    return pd.DataFrame(rows, columns=["size", "color", "species", "share"])


def reference_dogs_cats() -> pd.DataFrame:
    """Pre-selection population margins of the DOGS & CATS generator.

    Returns
    -------
    pandas.DataFrame
        Columns ``attribute`` (species, size, color, multicolor), ``value`` and ``share``;
        the shares of each attribute sum to 1.

    Notes
    -----
    The margins are exact sums (fractions, not simulation) over the cells of
    :func:`reference_dogs_cats_joint`: species DOG .5 / CAT .5, size big .25 / small .75,
    multicolor yes .125 / no .875; a single colour c has share .875 p_c (e.g. white .21875)
    and a two-colour coat {i, j} has share .125 (p_i p_j / (1 - p_i) + p_i p_j / (1 - p_j)).
    They are also the true marginals of the null model (``planted=False``), which has no selection.
    """
    order = {"species": ["DOG", "CAT"], "size": ["big", "small"],
             "color": list(BASE_COLORS) + list(_pair_probabilities()), "multicolor": ["yes", "no"]}
    shares: dict[tuple[str, str], Fraction] = {}
    for size, color, species, share in _joint_cells():
        values = {"species": species, "size": size, "color": color,
                  "multicolor": "yes" if "-" in color else "no"}
        for attribute, value in values.items():
            shares[attribute, value] = shares.get((attribute, value), Fraction(0)) + share
    rows = [(a, v, float(shares[a, v])) for a, levels in order.items() for v in levels]
    return pd.DataFrame(rows, columns=["attribute", "value", "share"])


def write_reference_csv(path: str | Path) -> Path:
    """Write :func:`reference_dogs_cats` to ``path`` (CSV, no index) and return the path."""
    path = Path(path)
    reference_dogs_cats().to_csv(path, index=False, lineterminator="\n")
    return path
