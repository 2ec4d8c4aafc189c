"""Checks: pass on clean data, fail on planted data with the right message, and never fail on a
pattern the data cannot establish.  Expectations are computed here with pandas and scipy."""
import warnings

import pandas as pd
import pytest
from scipy import stats

import biasaudit as ba
from biasaudit.integrations import checks
from biasaudit.tools.simulate import generate_dogs_cats
from conftest import DATASETS


@pytest.fixture(scope="module")
def planted():
    return generate_dogs_cats(1000, seed=0, planted=True)


@pytest.fixture(scope="module")
def clean():
    return generate_dogs_cats(1000, seed=0, planted=False)


@pytest.fixture(scope="module")
def large():
    return pd.read_csv(DATASETS / "dogs_cats_large.csv")


def flat(text) -> str:
    """The message with its line wrapping undone."""
    return " ".join(str(text).split())


def dog_rate(df, column):
    return df.groupby(column)["species"].apply(lambda s: (s == "DOG").mean())


# ------------------------------------------------------------------ check()
def test_check_passes_on_clean_data(clean):
    result = checks.check(clean, label="species", fail_on="medium", probe=False)
    assert isinstance(result, ba.AuditResult)
    assert result.at_or_above("medium") == []


def test_check_fails_on_planted_data_with_the_findings(planted):
    # planted: no cat is big.  Independently: the exact one-sided p of 0 big cats is astronomically small,
    # so after any correction over a family of fewer than 10**6 hypotheses it stays <= 0.001 (critical).
    n, n_cat = len(planted), int((planted["species"] == "CAT").sum())
    n_big = int((planted["size"] == "big").sum())
    assert int(((planted["size"] == "big") & (planted["species"] == "CAT")).sum()) == 0
    assert stats.hypergeom.cdf(0, n, n_cat, n_big) < 1e-9
    with pytest.raises(ba.BiasCheckError) as err:
        checks.check(planted, label="species", fail_on="critical", probe=False)
    e = err.value
    assert isinstance(e, AssertionError) and isinstance(e.result, ba.AuditResult)
    assert list(e.failures.columns[:3]) == ["id", "bias_type", "detector"]
    assert set(e.failures["severity"]) == {"critical"}
    assert len(e.failures) == len(e.result.at_or_above("critical"))
    assert "overgeneralization:rule:size=big:label=CAT" in set(e.failures["id"])
    assert "finding(s) at or above 'critical'" in str(e)
    assert "\n  critical  overgeneralization:rule:size=big:label=CAT\n" in str(e)  # the readable table


def test_check_warns_instead_of_raising(planted):
    with pytest.warns(ba.BiasAuditWarning, match="at or above 'critical'") as record:
        result = checks.check(planted, label="species", fail_on="critical", on_fail="warn", probe=False)
    assert result.at_or_above("critical")
    assert record[0].filename == __file__  # the warning points at the caller


def test_accepted_findings_do_not_fail(planted):
    result = checks.check(planted, label="species", fail_on="critical", probe=False,
                          detectors=["group_attribution"], accept=["group_attribution:*"])
    assert result.at_or_above("critical")  # still reported, only accepted


def test_check_never_and_bad_arguments(planted):
    checks.check(planted, label="species", fail_on="never", probe=False, detectors=["group_attribution"])
    with pytest.raises(ValueError, match="'on_fail' parameter of check"):
        checks.check(planted, label="species", on_fail="ignore")
    with pytest.raises(ValueError, match="'fail_on' parameter of check"):
        checks.check(planted, label="species", fail_on="severe", detectors=["group_attribution"])


# ------------------------------------------------------------------ coverage gaps
def _iut_p(df, cell: dict, label: str) -> float:
    """Intersection-union p of 'no row of label in cell' (max over the overall and each parent test)."""
    in_cell = pd.Series(True, index=df.index)
    for a, v in cell.items():
        in_cell &= df[a] == v
    s = int(in_cell.sum())
    assert int((in_cell & (df["species"] == label)).sum()) == 0
    ps = [stats.hypergeom.cdf(0, len(df), int((df["species"] == label).sum()), s)]
    for a in cell:
        parent = pd.Series(True, index=df.index)
        for b, v in cell.items():
            if b != a:
                parent &= df[b] == v
        ps.append(stats.hypergeom.cdf(0, int(parent.sum()), int((parent & (df["species"] == label)).sum()), s))
    return max(ps)


def test_no_coverage_gaps_fails_on_planted_gap(planted):
    p = _iut_p(planted, {"size": "small", "color": "white"}, "DOG")
    assert p < 1e-6  # established after any correction over < 5000 hypotheses
    with pytest.raises(ba.BiasCheckError) as err:
        checks.assert_no_coverage_gaps(planted, label="species", attributes=["size", "color"])
    ids = set(err.value.failures["id"])
    assert "overgeneralization:rule:size=small,color=white:label=DOG" in ids
    assert "overgeneralization:rule:size=big:label=CAT" in ids
    assert all(i.startswith("overgeneralization:") for i in ids)
    assert "coverage gap(s)" in str(err.value) and "size=small and color=white" in flat(err.value)


def test_no_coverage_gaps_passes_on_clean_data(clean):
    result = checks.assert_no_coverage_gaps(clean, label="species", attributes=["size", "color"])
    assert result.family_size > 0  # something was tested


def test_no_coverage_gaps_says_when_the_data_are_too_few(dogs_cats):
    # the lecture: "cats are always small" (0 of 3 big animals are cats): p = p_min = 20/364 (STATISTICS §9 S2),
    # and "no small white dog": 0 of 2, p_min = 0.509091 (S6); neither can be established at n = 14
    p = _iut_p(dogs_cats, {"size": "big"}, "CAT")
    assert p == pytest.approx(20 / 364, abs=1e-12)
    assert _iut_p(dogs_cats, {"size": "small", "color": "white"}, "DOG") == pytest.approx(0.509091, abs=1e-6)
    with pytest.warns(ba.BiasAuditWarning, match="too few to tell") as record:
        result = checks.assert_no_coverage_gaps(dogs_cats, label="species", attributes=["size", "color"])
    assert result.n_testable < result.family_size
    text = flat(record[0].message)
    assert "overgeneralization:rule:size=big:label=CAT" in text and "smallest attainable p = 0.0549" in text
    with pytest.raises(ba.BiasCheckError, match="not established"):
        checks.assert_no_coverage_gaps(dogs_cats, label="species", attributes=["size", "color"],
                                       inconclusive="fail")
    checks.assert_no_coverage_gaps(dogs_cats, label="species", attributes=["size", "color"], inconclusive="ignore")


# ------------------------------------------------------------------ representation
def test_representation_fails_on_the_selected_colour(large):
    ref = pd.read_csv(DATASETS / "dogs_cats_reference.csv")
    p_white = float(ref.query("attribute == 'color' and value == 'white'")["share"].iloc[0])
    k, n = int((large["color"] == "white").sum()), len(large)
    assert k / n / p_white < 0.9 and stats.binomtest(k, n, p_white).pvalue < 1e-6
    with pytest.raises(ba.BiasCheckError) as err:
        checks.assert_representation(large, "color", reference=ref, tolerance=0.1, label="species")
    assert "selection:reference:color=white" in set(err.value.failures["id"])
    assert "color=white is under-represented" in flat(err.value)
    assert "[0.90, 1.11]" in str(err.value)


def test_representation_passes_on_clean_data(clean):
    ref = pd.read_csv(DATASETS / "dogs_cats_reference.csv")
    for attribute in ("color", "size", "species"):
        checks.assert_representation(clean, attribute, reference=ref, label="species")


def test_representation_of_a_two_valued_attribute_not_established(large):
    # DOG share 956/2000 against 0.5: ratio 0.956 is outside [0.96, 1.04], but binomtest p = 0.0517 > 0.05:
    # testable and not significant, so the check passes (silently: chance does this), unless strict
    k, n = int((large["species"] == "DOG").sum()), len(large)
    assert k / n / 0.5 < 0.96 and stats.binomtest(k, n, 0.5).pvalue > 0.05
    ref = {"DOG": 0.5, "CAT": 0.5}
    checks.assert_representation(large, "species", reference=ref, tolerance=0.04, label="species")
    with pytest.raises(ba.BiasCheckError, match="not established") as err:
        checks.assert_representation(large, "species", reference=ref, tolerance=0.04, label="species",
                                     inconclusive="fail")
    assert list(err.value.failures["id"]) == ["selection:reference:species"]


def test_representation_bad_arguments(large):
    with pytest.raises(ValueError, match="'tolerance' parameter"):
        checks.assert_representation(large, "color", reference={"white": 1.0}, tolerance=1.5)
    with pytest.raises(ValueError, match="no rows for attribute 'size'"):
        checks.assert_representation(large, "size", reference={"color": {"white": 1.0}})


# ------------------------------------------------------------------ parity
def test_parity_fails_on_planted_disparity(planted):
    rate = dog_rate(planted, "size")
    table = pd.crosstab(planted["size"], planted["species"]).to_numpy()
    assert rate["small"] / rate["big"] < 0.8 and stats.chi2_contingency(table, correction=False).pvalue < 1e-10
    with pytest.raises(ba.BiasCheckError) as err:
        checks.assert_parity(planted, label="species", attribute="size", positive="DOG")
    assert list(err.value.failures["id"]) == ["group_attribution:size=small:label=DOG"]
    msg = flat(err.value)
    assert "Disparate impact below 0.8 established" in msg and "below the four-fifths rule" in msg
    assert f"{100 * rate['small']:.0f}% for size=small" in msg


def test_parity_passes_on_clean_data(clean):
    for attribute in ("size", "multicolor"):
        checks.assert_parity(clean, label="species", attribute=attribute)


def test_parity_says_when_the_data_are_too_few(dogs_cats):
    # lecture: big 3/3 dogs, small 3/11: DI 0.27 but Fisher p = p_min = 0.0549451 (STATISTICS §4.1 C1)
    table = pd.crosstab(dogs_cats["size"], dogs_cats["species"]).to_numpy()
    assert stats.fisher_exact(table).pvalue == pytest.approx(0.0549451, abs=1e-7)
    with pytest.warns(ba.BiasAuditWarning, match="too few to tell") as record:
        checks.assert_parity(dogs_cats, label="species", attribute="size")
    text = flat(record[0].message)
    assert "size=small" in text and "n too small to test" in text and "0.0549" in text
    with pytest.raises(ba.BiasCheckError):
        checks.assert_parity(dogs_cats, label="species", attribute="size", inconclusive="fail")
    with pytest.raises(ValueError, match="'min_ratio' parameter"):
        checks.assert_parity(dogs_cats, label="species", attribute="size", min_ratio=0)


# ------------------------------------------------------------------ decorator
def test_audited_decorator(planted, clean):
    @checks.audited(label="species", fail_on="critical", probe=False, detectors=["group_attribution"])
    def load(which):
        return {"planted": planted, "clean": clean}[which]

    assert load("clean") is clean
    with pytest.raises(ba.BiasCheckError) as err:
        load("planted")
    assert "test_checks.test_audited_decorator.<locals>.load()" in str(err.value)
    assert load.__name__ == "load"


def test_audited_warn_and_type_error(planted):
    @checks.audited(label="species", fail_on="critical", on_fail="warn", detectors=["group_attribution"], probe=False)
    def load():
        return planted

    with pytest.warns(ba.BiasAuditWarning) as record:
        assert load() is planted
    assert record[0].filename == __file__

    @checks.audited
    def not_a_frame():
        return [1, 2]

    with pytest.raises(TypeError, match="to return a pandas DataFrame"):
        not_a_frame()


def test_no_warning_escapes_a_passing_check(clean):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        checks.assert_parity(clean, label="species", attribute="size")


# ------------------------------------------------------------------ the claim command
def test_cli_claim(dogs_cats, tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from biasaudit.integrations.cli import cli
    monkeypatch.chdir(tmp_path)
    (tmp_path / "biasaudit.toml").write_text("")
    data = str(DATASETS / "dogs_cats.csv")
    white_dogs = dogs_cats.loc[(dogs_cats["color"] == "white") & (dogs_cats["species"] == "DOG"), "id"].tolist()
    assert white_dogs == ["Ex06"]
    small = dogs_cats["size"] == "small"
    dog = dogs_cats["species"] == "DOG"
    # 0 of the 2 small white animals are dogs: the decisive parent is size=small, p = p_min = 0.509091 (§9 S6)
    assert stats.hypergeom.cdf(0, int(small.sum()), int((small & dog).sum()), 2) == pytest.approx(0.509091, abs=1e-6)
    claims = ["never species=DOG where size=small, color=white", "never species=DOG where color=white"]
    r = CliRunner().invoke(cli, ["claim", data, *claims, "--format", "json", "-o", "claims.json"])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "claims.json").read_text())
    assert doc["correction"] == "holm"
    first, second = doc["claims"]
    assert first["verdict"] == "not established" and first["p_min"] == pytest.approx(0.509091, abs=1e-6)
    assert second["verdict"] == "contradicted" and second["counter_examples"] == white_dogs
    r = CliRunner().invoke(cli, ["claim", data, *claims, "--fail-on", "contradicted"])
    assert r.exit_code == 1 and "[contradicted] never species=DOG where color=white" in r.stdout
    r = CliRunner().invoke(cli, ["claim", data, claims[0], "--fail-on", "unsupported"])
    assert r.exit_code == 1
    r = CliRunner().invoke(cli, ["claim", data, claims[0], "--fail-on", "contradicted"])
    assert r.exit_code == 0
    r = CliRunner().invoke(cli, ["claim", data, "never species=DOGGO where color=white"])
    assert r.exit_code == 2 and "Did you mean 'DOG'" in r.stderr
