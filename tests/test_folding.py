"""Folding never hides: named attributes are never folded under others, a child is never more severe
than its parent, and checks, --fail-on, JUnit and SARIF see every finding, folded or not."""
import json
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

import biasaudit as ba
from biasaudit.audit.folding import settle_folding, unfold_reason
from biasaudit.audit.grading import sort_key
from biasaudit.errors import BiasCheckError
from biasaudit.findings import AuditResult, Finding
from biasaudit.integrations.checks import failing_findings
from biasaudit.report.junit import render_junit
from biasaudit.report.sarif import sarif_dict
from biasaudit.settings import severity_rank

from conftest import load_compas


def _f(fid, severity, attrs, *, family="exploratory", parent=None):
    return Finding(id=fid, bias_type="group_attribution", detector="t", attributes=attrs, message=f"{fid}.",
                   severity=severity, family=family, in_family=True, explained_by=parent)


def _result(findings):
    return AuditResult(dataset={"source": "data.csv", "n_rows": 10, "label": "y"}, settings={"alpha": 0.05},
                       groups=pd.DataFrame(), findings=tuple(findings), tool={"version": "t"})


def test_settle_folding_rules():
    parent = _f("p", "medium", {"score": "low"})
    prim_parent = _f("pp", "high", {"race": None}, family="primary")
    fs = [parent, prim_parent,
          _f("c_more_severe", "critical", {"score": "low", "age": "x"}, parent="p"),
          _f("c_ok", "medium", {"score": "low", "age": "y"}, parent="p"),
          _f("c_primary_under_other", "low", {"race": "b"}, family="primary", parent="p"),
          _f("c_primary_under_own", "medium", {"race": "b"}, family="primary", parent="pp"),
          _f("c_primary_under_pair", "low", {"race": "b"}, family="primary", parent="pair"),
          _f("pair", "high", {"race": "b", "sex": "f"}, family="primary"),
          _f("c_dangling", "low", {"x": "1"}, parent="gone")]
    out = {f.id: f for f in settle_folding(fs)}
    assert out["c_ok"].explained_by == "p" and out["c_primary_under_own"].explained_by == "pp"
    for fid in ("c_more_severe", "c_primary_under_other", "c_primary_under_pair", "c_dangling"):
        assert out[fid].explained_by is None, fid
    assert "more severe" in out["c_more_severe"].details["unfolded"]["reason"]
    assert out["c_primary_under_other"].details["unfolded"]["from"] == "p"
    assert "another attribute" in unfold_reason(fs[6], fs[7])


def test_sorted_primary_first_after_settling():
    fs = [_f("e", "critical", {"a": "1"}), _f("p", "info", {"race": None}, family="primary")]
    assert [f.id for f in settle_folding(fs, sort_key)] == ["p", "e"]


def test_a_folded_critical_child_fails_check_junit_and_sarif():
    """Today a critical child under a medium parent never failed a check at 'high'."""
    parent = _f("parent", "medium", {"a": "1"})
    child = _f("child", "critical", {"a": "1", "b": "2"}, parent="parent")  # as a reader may still get it
    r = _result([parent, child])
    assert [f.id for f in r.at_or_above("high")] == ["child"]
    assert [f.id for f in failing_findings(r, "high")] == ["child"]
    with pytest.raises(BiasCheckError) as err:
        r.check("high")
    assert list(err.value.failures["id"]) == ["child"]
    junit = ET.fromstring(render_junit(r, fail_on="high").split("\n", 1)[1])
    failed = [c.get("name") for c in junit.iter("testcase") if c.find("failure") is not None]
    assert failed == ["child"]
    assert "shown under: parent" in junit.find(".//failure").text
    sarif = sarif_dict(r, fail_on="high")
    levels = {res["partialFingerprints"]["biasauditFindingId/v1"]: res["level"] for res in sarif["runs"][0]["results"]}
    assert levels == {"parent": "warning", "child": "error"}


@pytest.fixture(scope="module")
def compas_race():
    df = load_compas()
    return df, ba.audit(df, label="two_year_recid", sensitive=["race"], probe=False,
                        detectors=["group_attribution", "overgeneralization", "conditional"])


def test_compas_named_race_is_primary_and_never_folded_elsewhere(compas_race):
    df, r = compas_race
    by_id = {f.id: f for f in r.findings}
    assert r.primary and r.findings[0].family == "primary"
    for f in r.primary:
        assert set(f.attributes) <= {"race"}, f.id
        if f.explained_by:
            parent = by_id[f.explained_by]
            assert parent.family == "primary" and set(parent.attributes) <= set(f.attributes)
    # no child is more severe than its parent anywhere
    for f in r.findings:
        if f.explained_by:
            assert severity_rank(f.severity) >= severity_rank(by_id[f.explained_by].severity)
    # the African-American rate, computed here, is in the primary family's group-rate finding
    aa = df[df["race"] == "African-American"]["two_year_recid"].mean()
    rest = df[df["race"] != "African-American"]["two_year_recid"].mean()
    f = next(g for g in r.primary if g.kind == "group_rate" and g.attributes == {"race": "African-American"})
    assert f.effect_size == pytest.approx(aa - rest, abs=1e-12) and f.explained_by is None
    assert f.established


def test_cli_fail_on_sees_folded_findings(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from biasaudit.integrations.cli import cli
    from biasaudit.tools.simulate import generate_dogs_cats
    monkeypatch.chdir(tmp_path)
    (tmp_path / "biasaudit.toml").write_text("")
    generate_dogs_cats(600, seed=2, planted=True).to_csv("d.csv", index=False)
    r = CliRunner().invoke(cli, ["scan", "d.csv", "-l", "species", "--no-probe", "--fail-on", "critical",
                                 "--format", "json", "-o", "r.json", "--format", "junit", "-o", "j.xml"])
    doc = json.loads((tmp_path / "r.json").read_text())
    critical = {f["id"] for f in doc["findings"] if f["severity"] == "critical"}
    folded = {f["id"] for f in doc["findings"] if f["severity"] == "critical" and f["explained_by"]}
    assert folded and r.exit_code == 1
    failed = {c.get("name") for c in ET.parse(tmp_path / "j.xml").getroot().iter("testcase")
              if c.find("failure") is not None}
    assert failed == critical
