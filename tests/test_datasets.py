"""The bundled data sets and the DOGS & CATS generator against independent expectations.

Oracles: the lecture's slide table (hard-coded below, transcribed from "Decomposing Neural
Networks", 15.11.2022), STATISTICS.md §10 (generator model), the raw UCI ``german.data`` codes,
and analytic probabilities recomputed here by enumerating ordered colour draws.
"""
from __future__ import annotations

import csv
import importlib.util
import itertools
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest, chi2_contingency, chisquare

from biasaudit.tools.simulate import generate_dogs_cats, reference_dogs_cats, reference_dogs_cats_joint

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "datasets"
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GERMAN_RAW = SHARED_DATA / "german_credit" / "german.data"

# The lecture's table (slide "KURI & PUSI", all 14 examples; Ex12's size from the class summary).
LECTURE = [
    ("Ex01", "small", "brown", "KURI"), ("Ex02", "small", "white", "PUSI"),
    ("Ex03", "small", "brown", "KURI"), ("Ex04", "small", "brown", "PUSI"),
    ("Ex05", "small", "white", "PUSI"), ("Ex06", "big", "white", "KURI"),
    ("Ex07", "big", "brown", "KURI"), ("Ex08", "small", "red", "PUSI"),
    ("Ex09", "small", "brown", "KURI"), ("Ex10", "small", "black", "PUSI"),
    ("Ex11", "small", "black", "PUSI"), ("Ex12", "small", "brown-white", "PUSI"),
    ("Ex13", "big", "black", "KURI"), ("Ex14", "small", "red-white", "PUSI"),
]
SPECIES = {"KURI": "DOG", "PUSI": "CAT"}
BASE = {"black": 0.30, "brown": 0.30, "red": 0.15, "white": 0.25}
GEN_COLUMNS = ["id", "size", "color", "multicolor", "weight_kg", "photo_hash", "species"]


def _read_text_csv(name: str) -> list[list[str]]:
    with open(DATASETS / name, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _require_shared_data() -> None:
    if not GERMAN_RAW.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{GERMAN_RAW} is missing, and CI=true requires it")
        pytest.skip(f"raw German Credit data not available at {GERMAN_RAW}")


def _ordered_pair_oracle() -> dict[str, float]:
    """P(two-colour coat) by enumerating the ordered draws (first ∝ p, second ∝ p without the first)."""
    names = list(BASE)
    out: dict[str, float] = {}
    for a, b in itertools.permutations(names, 2):
        lo, hi = sorted((a, b), key=names.index)
        out[f"{lo}-{hi}"] = out.get(f"{lo}-{hi}", 0.0) + BASE[a] * BASE[b] / (1 - BASE[a])
    return out


# --- the lecture table -------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "label", "mapping"), [
    ("kuri_pusi.csv", "label", {"KURI": "KURI", "PUSI": "PUSI"}),
    ("dogs_cats.csv", "species", SPECIES),
])
def test_lecture_table_is_exact(name, label, mapping):
    rows = _read_text_csv(name)
    assert rows[0] == ["id", "size", "color", label]
    assert rows[1:] == [[i, s, c, mapping[lab]] for i, s, c, lab in LECTURE]


def test_lecture_table_counts():
    df = pd.read_csv(DATASETS / "dogs_cats.csv")
    assert df["species"].value_counts().to_dict() == {"CAT": 8, "DOG": 6}
    assert ((df["size"] == "big") & (df["species"] == "CAT")).sum() == 0
    assert df.loc[df["color"].str.contains("-"), "id"].tolist() == ["Ex12", "Ex14"]


# --- the generator -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    return generate_dogs_cats(20000, seed=1)


@pytest.fixture(scope="module")
def null() -> pd.DataFrame:
    return generate_dogs_cats(20000, seed=1, planted=False)


def test_generator_schema(planted):
    assert list(planted.columns) == GEN_COLUMNS
    assert len(planted) == 20000
    assert planted["id"].is_unique
    assert planted["id"].str.fullmatch(r"D\d{6}").all()
    assert planted["photo_hash"].str.fullmatch(r"[0-9a-f]{16}").all()
    assert set(planted["size"]) == {"big", "small"}
    assert set(planted["species"]) == {"DOG", "CAT"}
    assert set(planted["color"]) == set(BASE) | set(_ordered_pair_oracle())
    assert ((planted["multicolor"] == "yes") == planted["color"].str.contains("-")).all()
    w = planted["weight_kg"].dropna()
    assert (w > 0).all() and np.allclose(w, w.round(1))


def test_planted_structural_zeros(planted):
    dog = planted["species"] == "DOG"
    assert (dog & (planted["size"] == "small") & (planted["color"] == "white")).sum() == 0
    assert (~dog & (planted["size"] == "big")).sum() == 0
    assert (dog & (planted["multicolor"] == "yes")).sum() == 0


@pytest.mark.parametrize("n", [0, 1, 49, 51, 150, 2000, 20000])
def test_planted_duplicates(n):
    df = generate_dogs_cats(n, seed=3)
    n_dup = int(round(0.01 * n))
    assert len(df) == n
    dup = df.drop(columns="id").duplicated(keep="first")
    assert dup.sum() == n_dup
    assert (dup.to_numpy().nonzero()[0] >= n - n_dup).all()  # copies are appended at the end
    assert df["photo_hash"].duplicated().sum() == n_dup


def test_planted_rates_match_model(planted):
    kept = planted.iloc[: len(planted) - 200]  # drop the appended duplicate copies
    dog = kept["species"] == "DOG"
    p_recorded = 1 - 0.5 * 0.5 * 0.25  # P(not a small white dog)
    assert binomtest(int(dog.sum()), len(kept), (0.5 - 0.0625) / p_recorded).pvalue > 1e-3
    assert binomtest(int((kept["size"] == "big").sum()), len(kept), 0.25 / p_recorded).pvalue > 1e-3
    for species, p in (("DOG", 0.02), ("CAT", 0.10)):
        w = kept.loc[kept["species"] == species, "weight_kg"]
        assert binomtest(int(w.isna().sum()), len(w), p).pvalue > 1e-3, species
    cat_multi = (kept.loc[~dog, "multicolor"] == "yes")
    assert binomtest(int(cat_multi.sum()), len(cat_multi), 0.25).pvalue > 1e-3


def test_planted_weight_medians(planted):
    log_w = np.log(planted["weight_kg"])
    groups = {("DOG", "big"): 28.0, ("DOG", "small"): 9.0, ("CAT", "small"): 4.2}
    for (species, size), median in groups.items():
        sel = (planted["species"] == species) & (planted["size"] == size)
        assert abs(np.nanmedian(log_w[sel]) - math.log(median)) < 0.02, (species, size)


def test_null_independence_and_missingness(null):
    for attribute in ("size", "color", "multicolor"):
        table = pd.crosstab(null[attribute], null["species"])
        assert chi2_contingency(table).pvalue > 1e-3, attribute
    missing = null["weight_kg"].isna()
    assert binomtest(int(missing.sum()), len(null), 0.05).pvalue > 1e-3
    assert chi2_contingency(pd.crosstab(missing, null["species"])).pvalue > 1e-3
    assert not null.drop(columns="id").duplicated().any()


def test_null_marginals_equal_reference(null):
    ref = reference_dogs_cats()
    for attribute, grp in ref.groupby("attribute"):
        counts = null[attribute].value_counts().reindex(grp["value"], fill_value=0)
        assert chisquare(counts.to_numpy(), grp["share"].to_numpy() * len(null)).pvalue > 1e-3, attribute


def test_generator_is_deterministic():
    pd.testing.assert_frame_equal(generate_dogs_cats(500, seed=7), generate_dogs_cats(500, seed=7))
    pd.testing.assert_frame_equal(generate_dogs_cats(500, seed=7, planted=False),
                                  generate_dogs_cats(500, seed=7, planted=False))
    assert not generate_dogs_cats(500, seed=7).equals(generate_dogs_cats(500, seed=8))


@pytest.mark.parametrize("bad", [-1, 2.5, "10", True])
def test_generator_rejects_bad_n(bad):
    with pytest.raises(ValueError, match="'n' parameter of generate_dogs_cats"):
        generate_dogs_cats(bad)


def test_reference_is_analytic():
    ref = reference_dogs_cats()
    assert list(ref.columns) == ["attribute", "value", "share"]
    shares = {(a, v): s for a, v, s in ref.itertuples(index=False)}
    expected = {("species", "DOG"): 0.5, ("species", "CAT"): 0.5, ("size", "big"): 0.25,
                ("size", "small"): 0.75, ("multicolor", "yes"): 0.125, ("multicolor", "no"): 0.875}
    expected.update({("color", c): 0.875 * p for c, p in BASE.items()})
    expected.update({("color", c): 0.125 * p for c, p in _ordered_pair_oracle().items()})
    assert shares.keys() == expected.keys()
    for key, value in expected.items():
        assert shares[key] == pytest.approx(value, rel=1e-12), key
    assert shares[("color", "white")] == 0.21875  # STATISTICS.md §10
    joint = reference_dogs_cats_joint()
    assert len(joint) == 18 and joint["share"].sum() == pytest.approx(1.0)
    assert not ((joint["species"] == "CAT") & (joint["size"] == "big")).any()


# --- the files on disk ---------------------------------------------------------------------------

def test_large_csv_equals_regenerated():
    on_disk = pd.read_csv(DATASETS / "dogs_cats_large.csv")
    pd.testing.assert_frame_equal(on_disk, generate_dogs_cats(2000, seed=0, planted=True),
                                  check_dtype=False, check_exact=True)
    dog = on_disk["species"] == "DOG"
    assert (dog & (on_disk["size"] == "small") & (on_disk["color"] == "white")).sum() == 0
    assert on_disk.drop(columns="id").duplicated().sum() == 20


def test_reference_csv_equals_function():
    on_disk = pd.read_csv(DATASETS / "dogs_cats_reference.csv")
    pd.testing.assert_frame_equal(on_disk, reference_dogs_cats(), check_dtype=False)


def test_catalogue_lists_every_bundled_csv():
    cat = pd.read_csv(DATASETS / "datasets.csv", dtype=str, keep_default_na=False)
    assert list(cat.columns) == ["file", "label", "description", "source", "licence", "known_biases"]
    bundled = {p.name for p in DATASETS.glob("*.csv")} - {"datasets.csv"}
    assert set(cat["file"]) == bundled
    assert not any(re.search("compas|celeba", name, re.I) for name in bundled)
    for file, label in zip(cat["file"], cat["label"]):
        header = _read_text_csv(file)[0]
        if label:
            assert header[-1] == label, file
        else:
            assert file == "dogs_cats_reference.csv"
    german = cat.set_index("file").loc["german_credit.csv"]
    assert german["licence"] == "CC BY 4.0"
    assert "Hofmann" in german["source"] and "1994" in german["source"] and "UCI" in german["source"]


def test_german_credit_bundled():
    df = pd.read_csv(DATASETS / "german_credit.csv", keep_default_na=False)
    assert df.shape == (1000, 22)
    assert list(df.columns[-2:]) == ["sex", "credit"]
    assert df["credit"].value_counts().to_dict() == {"good": 700, "bad": 300}
    text = df.select_dtypes(exclude="number")
    for column in text:
        assert (text[column] == text[column].str.strip()).all(), column
        assert not text[column].str.fullmatch(r"A\d{2,3}").any(), column  # every code decoded


def test_german_credit_matches_raw_codes():
    _require_shared_data()
    raw = [line.split() for line in GERMAN_RAW.read_text().splitlines() if line.strip()]
    assert len(raw) == 1000 and all(len(r) == 21 for r in raw)
    df = pd.read_csv(DATASETS / "german_credit.csv", keep_default_na=False)
    female = sum(r[8] in ("A92", "A95") for r in raw)
    assert df["sex"].value_counts().to_dict() == {"male": 1000 - female, "female": female}
    assert (df["sex"] == ["female" if r[8] in ("A92", "A95") else "male" for r in raw]).all()
    assert (df["credit"] == ["good" if r[20] == "1" else "bad" for r in raw]).all()
    assert (df["age"] == [int(r[12]) for r in raw]).all()
    assert (df["foreign_worker"] == ["yes" if r[19] == "A201" else "no" for r in raw]).all()


def test_german_credit_script_reproduces_csv():
    _require_shared_data()
    spec = importlib.util.spec_from_file_location("make_german_credit", DATASETS / "make_german_credit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.build(GERMAN_RAW.parent)
    on_disk = pd.read_csv(DATASETS / "german_credit.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(on_disk, built, check_dtype=False)
