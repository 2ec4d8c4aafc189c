"""Baselines: today's findings are accepted; a later scan fails only on what is new or worse."""
import json

import pytest
from click.testing import CliRunner
from scipy import stats

from biasaudit.integrations.baseline import BASELINE_FORMAT, Baseline, compare_baseline, read_baseline, write_baseline
from biasaudit.integrations.cli import cli
from biasaudit.errors import InputFileError
from biasaudit.tools.simulate import generate_dogs_cats

GAP_BIG_CAT = "overgeneralization:rule:size=big:label=CAT"
GAP_SMALL_BLACK_DOG = "overgeneralization:rule:size=small,color=black:label=DOG"


@pytest.fixture
def versions(tmp_path, monkeypatch):
    """v1: planted data; v2: the same rows without the small black dogs (a new gap)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "biasaudit.toml").write_text("")  # no configuration from outside the test folder
    v1 = generate_dogs_cats(800, seed=0, planted=True)
    v2 = v1[~((v1["size"] == "small") & (v1["color"] == "black") & (v1["species"] == "DOG"))]
    v1.to_csv("v1.csv", index=False)
    v2.to_csv("v2.csv", index=False)
    return v1, v2


def scan(*args):
    return CliRunner().invoke(cli, ["scan", *args, "-l", "species", "-s", "size", "--no-probe", "--keep", "weight_kg", "--format", "json",
                                   "-o", "r.json"])


def test_baseline_accepts_todays_findings_and_catches_a_new_gap(versions, tmp_path):
    v1, v2 = versions
    r = scan("v1.csv", "--fail-on", "high", "--write-baseline", "base.json")
    assert r.exit_code == 0, r.output  # writing a baseline accepts what is there
    base = json.loads((tmp_path / "base.json").read_text())
    report = json.loads((tmp_path / "r.json").read_text())
    assert base["format"] == BASELINE_FORMAT
    # every finding is recorded, folded or not: a folded finding fails like any other
    assert set(base["findings"]) == {f["id"] for f in report["findings"]}
    assert any(f["explained_by"] for f in report["findings"])
    assert base["findings"][GAP_BIG_CAT]["severity"] == "critical"

    # the same data against the baseline: nothing new, so exit 0 although critical findings exist
    r = scan("v1.csv", "--fail-on", "high", "--baseline", "base.json")
    assert r.exit_code == 0, r.output
    assert "0 new, 0 worsened" in r.stderr
    assert json.loads((tmp_path / "r.json").read_text())["baseline"]["new"] == []

    # v2 lost its small black dogs: a gap the baseline does not hold.  Computed here: the
    # intersection-union p (overall, given small, given black) of 0 dogs among the small black animals
    cell = (v2["size"] == "small") & (v2["color"] == "black")
    dog = v2["species"] == "DOG"
    s, n = int(cell.sum()), len(v2)
    small, black = v2["size"] == "small", v2["color"] == "black"
    p = max(stats.hypergeom.cdf(0, n, int(dog.sum()), s),
            stats.hypergeom.cdf(0, int(small.sum()), int((small & dog).sum()), s),
            stats.hypergeom.cdf(0, int(black.sum()), int((black & dog).sum()), s))
    assert int((cell & dog).sum()) == 0 and int(((v1["size"] == "small") & (v1["color"] == "black")
                                                  & (v1["species"] == "DOG")).sum()) > 50
    assert p < 1e-8
    r = scan("v2.csv", "--fail-on", "high", "--baseline", "base.json")
    assert r.exit_code == 1, r.output
    assert f"new       [critical] {GAP_SMALL_BLACK_DOG}" in r.stderr
    doc = json.loads((tmp_path / "r.json").read_text())["baseline"]
    assert GAP_SMALL_BLACK_DOG in doc["new"]
    assert GAP_BIG_CAT in doc["unchanged"]  # the accepted finding does not fail


def test_baseline_file_is_deterministic(versions, tmp_path):
    scan("v1.csv", "--write-baseline", "a.json")
    scan("v1.csv", "--write-baseline", "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_sarif_baseline_state(versions, tmp_path):
    assert scan("v1.csv", "--write-baseline", "base.json").exit_code == 0
    r = CliRunner().invoke(cli, ["scan", "v2.csv", "-l", "species", "-s", "size", "--no-probe", "--baseline", "base.json",
                                 "--fail-on", "high", "--format", "sarif", "-o", "r.sarif"])
    assert r.exit_code == 1
    results = json.loads((tmp_path / "r.sarif").read_text())["runs"][0]["results"]
    state = {res["partialFingerprints"]["biasauditFindingId/v1"]: res.get("baselineState") for res in results}
    assert state[GAP_SMALL_BLACK_DOG] == "new"
    assert state[GAP_BIG_CAT] == "unchanged"
    level = {res["partialFingerprints"]["biasauditFindingId/v1"]: res["level"] for res in results}
    assert level[GAP_SMALL_BLACK_DOG] == "error" and level[GAP_BIG_CAT] == "warning"


def test_compare_classifies_by_severity_rank():
    from biasaudit import audit
    df = generate_dogs_cats(800, seed=0, planted=True)
    result = audit(df, label="species", probe=False, detectors=["overgeneralization", "group_attribution"])
    reaching = result.at_or_above("medium")
    assert len(reaching) >= 4
    a, b, c, d = reaching[:4]
    entry = {"bias_type": "x", "kind": "x", "effect_size": None, "effect_size_name": None, "effect_level": 0,
             "p_adjusted": None, "n": 0, "message": ""}
    lower = {"critical": "high", "high": "medium", "medium": "low"}
    higher = {"high": "critical", "medium": "high", "low": "medium"}
    recorded = {
        # a: absent -> new; b: was less serious -> worsened; c: same -> unchanged
        b.id: {**entry, "severity": lower[b.severity]},
        c.id: {**entry, "severity": c.severity},
        "overgeneralization:rule:size=huge:label=CAT": {**entry, "severity": "critical"},  # gone -> resolved
        "group_attribution:x=y:label=DOG": {**entry, "severity": "weak-evidence"},  # never reached: not resolved
    }
    if d.severity in higher:
        recorded[d.id] = {**entry, "severity": higher[d.severity]}  # was more serious -> improved
    cmp = compare_baseline(result, Baseline(findings=recorded), fail_on="medium")
    ids = {k: [f.id for f in getattr(cmp, k)] for k in ("new", "worsened", "unchanged", "improved")}
    assert a.id in ids["new"] and b.id in ids["worsened"] and c.id in ids["unchanged"]
    assert [fid for fid, _, _ in cmp.resolved] == ["overgeneralization:rule:size=huge:label=CAT"]
    if d.severity in higher:
        assert d.id in ids["improved"]
    assert [f.id for f in cmp.failing] == ids["new"] + ids["worsened"]
    assert ids["new"] == [f.id for f in reaching if f.id not in recorded]
    # an accepted finding never fails
    cmp2 = compare_baseline(result, Baseline(findings=recorded), fail_on="medium", accept=[a.id])
    assert a.id not in [f.id for f in cmp2.new] and a.id in cmp2.accepted


def test_round_trip_and_bad_files(tmp_path):
    from biasaudit import audit
    result = audit(generate_dogs_cats(600, seed=1), label="species", probe=False, detectors=["group_attribution"])
    path = write_baseline(result, tmp_path / "b.json")
    assert set(read_baseline(path).findings) == {f.id for f in result.findings if f.explained_by is None}
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputFileError, match="not a biasaudit baseline"):
        read_baseline(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"findings": {}}))
    with pytest.raises(InputFileError, match="expected format"):
        read_baseline(tmp_path / "other.json")
    with pytest.raises(InputFileError, match="Baseline file not found"):
        read_baseline(tmp_path / "missing.json")


def test_missing_baseline_exits_2(versions):
    r = scan("v1.csv", "--baseline", "missing.json")
    assert r.exit_code == 2
    assert "Baseline file not found" in r.stderr and "Traceback" not in r.stderr


def test_resampled_file_keeps_its_binned_findings(tmp_path, monkeypatch):
    """A 97 % subsample of the same file: the quantile edges of weight_kg move, so binned finding ids
    change, yet the baseline sees nothing new and nothing resolved (matched by bin rank)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "biasaudit.toml").write_text("")
    v1 = generate_dogs_cats(2000, seed=5, planted=True)
    v1.to_csv("v1.csv", index=False)
    v1.sample(frac=0.97, random_state=1).to_csv("v2.csv", index=False)
    r = scan("v1.csv", "--fail-on", "medium", "--write-baseline", "base.json")
    assert r.exit_code == 0, r.output
    first = json.loads((tmp_path / "r.json").read_text())
    r = scan("v2.csv", "--fail-on", "medium", "--baseline", "base.json")
    assert r.exit_code == 0, r.output
    second = json.loads((tmp_path / "r.json").read_text())
    edges1, edges2 = first["dataset"]["bins"]["weight_kg"], second["dataset"]["bins"]["weight_kg"]
    assert edges1 != edges2  # the resample moved the quantile edges
    binned = lambda doc: {f["id"] for f in doc["findings"] if "weight_kg" in f["attributes"]  # noqa: E731
                          and f["severity"] in ("critical", "high", "medium")}
    assert binned(first) - binned(second)  # ... and with them some finding ids
    doc = second["baseline"]
    assert doc["new"] == [] and doc["resolved"] == [] and doc["worsened"] == []
    assert "0 new, 0 worsened" in r.stderr and "0 resolved" in r.stderr


def test_match_key_ranks_bins():
    from biasaudit.findings import Finding
    from biasaudit.integrations.baseline import match_key
    f = Finding(id="x:weight_kg=(8.58, 23.5],size=small:label=DOG", bias_type="b", detector="x",
                attributes={"weight_kg": "(8.58, 23.5]", "size": "small"}, message="m")
    g = f.evolve(id="x:weight_kg=(8.8, 24.72],size=small:label=DOG", attributes={"weight_kg": "(8.8, 24.72]",
                                                                                "size": "small"})
    k1 = match_key(f, {"weight_kg": [1.8, 4.0, 5.2, 8.58, 23.5, 63.3]})
    k2 = match_key(g, {"weight_kg": [1.8, 4.0, 5.2, 8.8, 24.72, 63.3]})
    assert k1 == k2 == "x:weight_kg=<bin 4 of 5>,size=small:label=DOG"
    first = f.evolve(id="x:weight_kg=[1.8, 4]", attributes={"weight_kg": "[1.8, 4]"})
    assert match_key(first, {"weight_kg": [1.8, 4.0, 5.2]}) == "x:weight_kg=<bin 1 of 2>"
