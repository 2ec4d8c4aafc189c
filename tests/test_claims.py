"""Claim-check mode (STATISTICS.md §3.6): parsing, verdicts, counter-examples, Holm over the claims.
Expected numbers are computed here with scipy / statsmodels."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from biasaudit.tools.claims import ClaimResult, check_claim, check_claims, parse_claim
from biasaudit.errors import ColumnError, DataError

DATASETS = Path(__file__).resolve().parents[1] / "datasets"
LECTURE = DATASETS / "dogs_cats.csv"


def test_parse_forms():
    c = parse_claim("never species=DOG where size=small, color=white")
    assert (c.kind, c.label, c.value, dict(c.cell)) == ("never", "species", "DOG", {"size": "small", "color": "white"})
    c = parse_claim("Always CAT where size = small and color_count=2")
    assert (c.kind, c.label, c.value, dict(c.cell)) == ("always", None, "CAT", {"size": "small", "color_count": "2"})
    c = parse_claim("can species=CAT")
    assert c.kind == "can" and dict(c.cell) == {}
    c = parse_claim("never y=1 where weight_kg=(9, 24.8], size=big")
    assert dict(c.cell) == {"weight_kg": "(9, 24.8]", "size": "big"}
    d = parse_claim({"kind": "never", "label": "species=DOG", "where": {"size": "small"}})
    assert (d.kind, d.label, d.value, dict(d.cell)) == ("never", "species", "DOG", {"size": "small"})


@pytest.mark.parametrize("bad", ["sometimes species=DOG", "never species=DOG where size", "never"])
def test_parse_errors(bad):
    with pytest.raises(DataError):
        parse_claim(bad)


def test_s6_not_established_with_rows_needed():
    r = check_claim(LECTURE, "never species=DOG where size=small, color=white")
    assert isinstance(r, ClaimResult) and r.verdict == "not established"
    iut = max(sps.hypergeom.cdf(0, 14, 6, 2), sps.hypergeom.cdf(0, 3, 1, 2), sps.hypergeom.cdf(0, 11, 3, 2))
    assert r.p_value == pytest.approx(iut) and r.p_value == pytest.approx(0.509091, abs=1e-6)
    assert r.p_min == pytest.approx(iut) and not r.testable and r.p_adjusted is None
    assert r.p_overall == pytest.approx(28 / 91)
    assert r.ci_high == pytest.approx(1 - np.sqrt(0.05))
    r_ = 1
    while max(sps.hypergeom.cdf(0, 14 * r_, 6 * r_, 2 * r_), sps.hypergeom.cdf(0, 3 * r_, r_, 2 * r_),
              sps.hypergeom.cdf(0, 11 * r_, 3 * r_, 2 * r_)) > 0.05:
        r_ += 1
    assert r.rows_needed == 14 * r_ == 70
    assert r.counter_examples == () and "Not established" in r.message
    assert r.to_dict()["verdict"] == "not established"


def test_contradicted_with_counter_examples():
    white = check_claim(LECTURE, "never species=DOG where color=white")
    assert white.verdict == "contradicted" and white.counter_examples == ("Ex06",)
    small = check_claim(LECTURE, "always species=CAT where size=small")
    assert small.verdict == "contradicted" and small.counter_examples == ("Ex01", "Ex03", "Ex09")
    assert small.n_counter_examples == 3


def test_counter_examples_without_id_column():
    df = pd.read_csv(LECTURE).drop(columns="id")
    r = check_claim(df, "never species=DOG where color=white")
    assert r.counter_examples == (5,)   # Ex06 is the sixth row


def test_can_claims_clopper_pearson():
    r = check_claim(LECTURE, "can species=CAT where color_count=2")
    assert r.verdict == "supported" and r.p_value is None and not r.in_family
    assert r.ci_low == pytest.approx(sps.beta.ppf(0.025, 2, 7))
    assert r.ci_high == pytest.approx(sps.beta.ppf(0.975, 3, 6))
    dog_big = check_claim(LECTURE, "can species=DOG where size=big")
    assert dog_big.verdict == "supported"
    assert (round(dog_big.ci_low, 6), round(dog_big.ci_high, 6)) == (0.118117, 0.881883)
    none = check_claim(LECTURE, "can species=CAT where size=big")
    assert none.verdict == "not established"
    assert none.ci_high == pytest.approx(1 - 0.05 ** (1 / 8))


def test_always_equals_never_of_the_other_label_for_binary_labels():
    a = check_claim(LECTURE, "always species=DOG where size=big")
    b = check_claim(LECTURE, "never species=CAT where size=big")
    assert a.p_value == pytest.approx(b.p_value) == pytest.approx(sps.hypergeom.pmf(3, 14, 6, 3))
    assert a.p_value == pytest.approx(0.0549451, abs=1e-7)
    assert a.verdict == b.verdict == "not established"
    assert a.rows_needed == b.rows_needed == 28


def test_holm_family_on_large_table():
    df = pd.read_csv(DATASETS / "dogs_cats_large.csv")
    claims = ["never species=DOG where size=small, color=white", "never species=CAT where size=big",
              "never species=DOG where multicolor=yes", "always species=CAT where color=white",
              "can species=DOG where size=small"]
    res = check_claims(df, claims)
    n = len(df)
    dog = df["species"] == "DOG"
    small, white = df["size"] == "small", df["color"] == "white"
    s = int((small & white).sum())
    p_sw = max(sps.hypergeom.cdf(0, n, dog.sum(), s), sps.hypergeom.cdf(0, small.sum(), (small & dog).sum(), s),
               sps.hypergeom.cdf(0, white.sum(), (white & dog).sum(), s))
    p_big = sps.hypergeom.cdf(0, n, (~dog).sum(), (df["size"] == "big").sum())
    p_multi = sps.hypergeom.cdf(0, n, dog.sum(), (df["multicolor"] == "yes").sum())
    n_white_cat = int((white & ~dog).sum())
    p_white = sps.hypergeom.sf(n_white_cat - 1, n, (~dog).sum(), white.sum())
    raw = [p_sw, p_big, p_multi, p_white]
    holm = multipletests(raw, method="holm")[1]
    for r, p, q in zip(res[:4], raw, holm):
        assert r.p_value == pytest.approx(p, rel=1e-9)
        assert r.p_adjusted == pytest.approx(q, rel=1e-9)
    assert [r.verdict for r in res] == ["supported", "supported", "supported", "contradicted", "supported"]
    assert res[3].n_counter_examples == int((white & dog).sum())


def test_name_invariance():
    a = check_claim(LECTURE, "never species=DOG where size=small, color=white")
    b = check_claim(DATASETS / "kuri_pusi.csv", "never label=KURI where size=small, color=white")
    assert (a.p_value, a.p_min, a.verdict, a.rows_needed) == (b.p_value, b.p_min, b.verdict, b.rows_needed)


def test_bad_names_say_what_exists():
    with pytest.raises(ColumnError, match="Did you mean 'size'"):
        check_claim(LECTURE, "never species=DOG where sise=small")
    with pytest.raises(DataError, match="small"):
        check_claim(LECTURE, "never species=DOG where size=smal")
    with pytest.raises(DataError, match="Label value"):
        check_claim(LECTURE, "never species=DGO where size=small")
    with pytest.raises(ValueError):
        check_claims(LECTURE, ["never species=DOG"], alpha=1.5)
