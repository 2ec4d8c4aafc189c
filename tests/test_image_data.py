"""Published image-dataset biases reproduced from the metadata in ../shared/data (no pictures there).

Waterbirds' ``metadata.csv`` and FairFace's label files name image files that are not shipped: they
load through the manifest reader, which audits the metadata alone and says so in a note.  Every
expected count is computed here with pandas from the raw files; every p-value with scipy.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

import biasaudit as ba
from conftest import shared_path


@pytest.fixture(autouse=True)
def _no_fragility(monkeypatch):
    """These tests check associations, not fragility; its search is slow on 10,000s of rows
    (the stats tests cover it), so the audit skips it here."""
    import importlib
    monkeypatch.setattr(importlib.import_module("biasaudit.audit.grading"), "_plan", lambda f, thr, settings: f)


def _finding(result, fid):
    return next(f for f in result.findings if f.id == fid)


def test_waterbirds_water_background_with_water_birds():
    path = shared_path("waterbirds", "metadata.csv")
    df = ba.load(path)
    assert any("img_filename" in n and "none exist" in n for n in df.attrs["biasaudit_notes"])
    train = df[df["split"] == 0]
    raw = pd.read_csv(path)
    raw = raw[raw["split"] == 0]
    table = pd.crosstab(raw["y"], raw["place"])
    # SOURCE.md: train landbird 3525 land / 186 water, waterbird 54 land / 1030 water
    assert table.to_numpy().tolist() == [[3525, 186], [54, 1030]]
    assert table.loc[1, 1] / table.loc[1].sum() > 0.95 and table.loc[0, 0] / table.loc[0].sum() > 0.94
    r = ba.audit(train, label="y", sensitive=["place"], detectors=["group_attribution"])
    f = _finding(r, "group_attribution:place:label=y")
    assert f.established and f.severity == "critical"
    assert f.p_value == pytest.approx(sps.chi2_contingency(table.to_numpy(), correction=False).pvalue, rel=1e-6,
                                      abs=1e-300)
    assert any("none exist" in n for n in r.dataset["notes"])


def _coco_gender() -> pd.DataFrame:
    objects = pd.read_csv(shared_path("coco_gender_balanced", "coco_val2014_object_labels.csv"))
    rows = []
    for name in ("test_man", "test_woman", "val_man", "val_woman"):
        ids = shared_path("coco_gender_balanced", f"{name}.txt").read_text().split()
        rows += [(int(i), name.split("_")[1]) for i in ids]
    return pd.DataFrame(rows, columns=["image_id", "gender"]).merge(objects, on="image_id", how="left")


def test_coco_skateboards_with_men():
    df = _coco_gender()
    skate = df["objects"].str.split(";").map(lambda xs: "skateboard" in xs)
    table = pd.crosstab(skate, df["gender"])
    # SOURCE.md: skateboard in 8.8% of the 1,000 man images and 0.3% of the 1,000 woman images
    assert (table.loc[True, "man"], table.loc[True, "woman"]) == (88, 3)
    r = ba.audit(df, label="gender", multi={"objects": ";"}, detectors=["group_attribution"])
    f = _finding(r, "group_attribution:objects_has_skateboard:label=gender")
    assert f.established
    assert f.p_value == pytest.approx(sps.chi2_contingency(table.to_numpy(), correction=False).pvalue, rel=1e-6)
    g = r.groups.set_index(["attribute", "group"])
    assert g.loc[("objects_has_skateboard", "yes"), "rate:man"] == pytest.approx(88 / 91)


def test_fairface_race_mix_far_from_uniform():
    path = shared_path("fairface", "fairface_label_train.csv")
    df = ba.load(path)
    assert any("'file'" in n and "none exist" in n for n in df.attrs["biasaudit_notes"])
    counts = pd.read_csv(path)["race"].value_counts().sort_index()
    assert counts.sum() == 86744
    uniform = pd.DataFrame({"attribute": "race", "value": counts.index, "share": 1 / len(counts)})
    r = ba.audit(df, label="gender", sensitive=["race"], reference=uniform, detectors=["selection"])
    f = _finding(r, "selection:reference:race")
    expected = sps.chisquare(counts.to_numpy())
    assert f.bias_type == "selection" and f.established
    assert f.statistic == pytest.approx(expected.statistic, rel=1e-9)
    tvd = 0.5 * np.abs(counts.to_numpy() / counts.sum() - 1 / len(counts)).sum()
    assert f.effect_size == pytest.approx(tvd) and tvd > 0.05
    white = _finding(r, "selection:reference:race=White")
    assert white.established and white.effect_size == pytest.approx(counts["White"] / counts.sum() * len(counts))


def test_celeba_blond_males_are_rare():
    path = shared_path("celeba_attr_subset", "list_attr_celeba_first20000.txt")
    lines = path.read_text().splitlines()
    names = lines[1].split()
    values = np.array([ln.split()[1:] for ln in lines[2:]], dtype=int)
    blond, male = values[:, names.index("Blond_Hair")] == 1, values[:, names.index("Male")] == 1
    table = np.array([[np.sum(~male & ~blond), np.sum(~male & blond)], [np.sum(male & ~blond), np.sum(male & blond)]])
    assert table[1, 1] < 0.1 * table[0, 1]  # blond males are a small minority
    df = ba.load(path)
    assert len(df) == 20000 and df["Blond_Hair"].sum() == blond.sum()
    r = ba.audit(df, label="Blond_Hair", sensitive=["Male"], detectors=["group_attribution"])
    f = _finding(r, "group_attribution:Male:label=Blond_Hair")
    assert f.established
    assert f.p_value == pytest.approx(sps.chi2_contingency(table, correction=False).pvalue, rel=1e-6, abs=1e-300)
