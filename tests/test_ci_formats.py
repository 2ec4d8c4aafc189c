"""CI outputs: JUnit XML parsed back with xml.etree, SARIF checked against the required fields and
enumerations of the SARIF 2.1.0 schema, and the CLI's repeatable --format / -o / --output-dir."""
import dataclasses
import json
import xml.etree.ElementTree as ET

import jsonschema
import pandas as pd
import pytest
from click.testing import CliRunner

from biasaudit import audit
from biasaudit.integrations.cli import cli
from biasaudit.report import render
from biasaudit.tools.simulate import generate_dogs_cats
from conftest import DATASETS

# The parts of the OASIS SARIF 2.1.0 schema (sarif-schema-2.1.0.json, errata 01) that biasaudit's
# output uses: required properties, enumerations and minimums, transcribed from the standard.
_MESSAGE = {"type": "object", "anyOf": [{"required": ["text"]}, {"required": ["id"]}],
            "properties": {"text": {"type": "string"}}}
SARIF_SUBSET = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"enum": ["2.1.0"]},
        "$schema": {"type": "string"},
        "runs": {"type": "array", "items": {
            "type": "object",
            "required": ["tool"],
            "properties": {
                "tool": {"type": "object", "required": ["driver"], "properties": {"driver": {
                    "type": "object", "required": ["name"],
                    "properties": {"name": {"type": "string"}, "rules": {"type": "array", "items": {
                        "type": "object", "required": ["id"],
                        "properties": {"id": {"type": "string"},
                                       "shortDescription": {"type": "object", "required": ["text"]},
                                       "fullDescription": {"type": "object", "required": ["text"]},
                                       "defaultConfiguration": {"type": "object", "properties": {
                                           "level": {"enum": ["none", "note", "warning", "error"]}}}}}}}}}},
                "columnKind": {"enum": ["utf16CodeUnits", "unicodeCodePoints"]},
                "artifacts": {"type": "array", "items": {"type": "object", "properties": {
                    "roles": {"type": "array", "items": {"enum": ["analysisTarget", "resultFile"]}}}}},
                "results": {"type": "array", "items": {
                    "type": "object",
                    "required": ["message"],
                    "additionalProperties": False,
                    "properties": {
                        "ruleId": {"type": "string"},
                        "ruleIndex": {"type": "integer", "minimum": -1},
                        "kind": {"enum": ["notApplicable", "pass", "fail", "review", "open", "informational"]},
                        "level": {"enum": ["none", "note", "warning", "error"]},
                        "message": _MESSAGE,
                        "locations": {"type": "array", "items": {"type": "object", "properties": {
                            "physicalLocation": {
                                "type": "object",
                                "anyOf": [{"required": ["address"]}, {"required": ["artifactLocation"]}],
                                "properties": {
                                    "artifactLocation": {"type": "object", "properties": {"uri": {"type": "string"}}},
                                    "region": {"type": "object", "properties": {
                                        "startLine": {"type": "integer", "minimum": 1}}}}}}}},
                        "partialFingerprints": {"type": "object", "additionalProperties": {"type": "string"}},
                        "suppressions": {"type": "array", "items": {
                            "type": "object", "required": ["kind"],
                            "properties": {"kind": {"enum": ["inSource", "external"]},
                                           "status": {"enum": ["accepted", "underReview", "rejected"]},
                                           "justification": {"type": "string"}}}},
                        "baselineState": {"enum": ["new", "unchanged", "updated", "absent"]},
                        "properties": {"type": "object"},
                    }}},
            }}},
    },
}


@pytest.fixture(scope="module")
def result():
    return audit(generate_dogs_cats(600, seed=0, planted=True), label="species", probe=False,
                 detectors=["group_attribution", "selection"], reference=pd.read_csv(DATASETS / "dogs_cats_reference.csv"),
                 source="data/animals v1.csv")


# ------------------------------------------------------------------ JUnit
def test_junit_parses_and_counts(result):
    root = ET.fromstring(render(result, "junit", fail_on="high"))
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(result.findings) == int(suite.get("tests")) == int(root.get("tests"))
    failing = {f.id for f in result.at_or_above("high")}
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert failed == failing and int(suite.get("failures")) == len(failing) > 0
    skipped = {c.get("name") for c in cases if c.find("skipped") is not None}
    assert skipped == {f.id for f in result.findings if f.severity == "insufficient-data"}
    assert int(suite.get("skipped")) == len(skipped) and suite.get("errors") == "0"
    by_id = {f.id: f for f in result.findings}
    for c in cases:
        f = by_id[c.get("name")]
        assert c.get("classname") == f"biasaudit.{f.bias_type}"
        if c.find("failure") is not None:
            assert c.find("failure").get("message") == f.message and c.find("failure").get("type") == f.severity
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["source"] == "data/animals v1.csv" and props["fail_on"] == "high"


def test_junit_accepted_and_explicit_failing(result):
    fid = result.at_or_above("high")[0].id
    root = ET.fromstring(render(result, "junit", failing=[], accepted={fid: "known and documented"}))
    assert root.get("failures") == "0"
    case = next(c for c in root.iter("testcase") if c.get("name") == fid)
    assert case.find("system-out").text.startswith("accepted: known and documented")


def test_junit_survives_markup_and_control_characters():
    df = pd.DataFrame({"group": ["<script>&\x07"] * 30 + ["b"] * 30, "y": [0] * 28 + [1] * 2 + [1] * 28 + [0] * 2})
    r = audit(df, label="y", probe=False, detectors=["group_attribution"])
    text = render(r, "junit", fail_on="low")
    root = ET.fromstring(text)  # well-formed XML despite the markup and the BEL character
    names = [c.get("name") for c in root.iter("testcase")]
    assert any("<script>&" in n for n in names) and not any("\x07" in n for n in names)


def test_junit_without_findings_has_one_passing_case(result):
    empty = dataclasses.replace(result, findings=())
    root = ET.fromstring(render(empty, "junit"))
    assert root.get("tests") == "1" and root.get("failures") == "0"
    assert [c.get("name") for c in root.iter("testcase")] == ["no findings"]
    doc = json.loads(render(empty, "sarif"))
    jsonschema.validate(doc, SARIF_SUBSET)
    assert doc["runs"][0]["results"] == []


# ------------------------------------------------------------------ SARIF
def test_sarif_has_the_required_fields(result):
    doc = json.loads(render(result, "sarif", fail_on="high"))
    jsonschema.validate(doc, SARIF_SUBSET)
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] == "biasaudit" and len({r["id"] for r in rules}) == len(rules)
    assert len(run["results"]) == len(result.findings)
    failing = {f.id for f in result.at_or_above("high")}
    by_id = {f.id: f for f in result.findings}
    for res in run["results"]:
        fid = res["partialFingerprints"]["biasauditFindingId/v1"]
        f = by_id[fid]
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"] == f"{f.detector}/{f.kind}"
        assert res["message"]["text"].startswith(f.message)
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == "data/animals%20v1.csv" and loc["region"]["startLine"] == 1
        if fid in failing:
            assert (res["level"], res["kind"]) == ("error", "fail")
        elif f.severity in ("critical", "high", "medium", "low"):
            assert (res["level"], res["kind"]) == ("warning", "fail")
        else:  # SARIF 3.27.9: a kind other than "fail" requires level "none"
            assert res["level"] == "none" and res["kind"] in ("review", "informational")


def test_sarif_suppression_of_accepted_findings(result):
    fid = result.at_or_above("high")[0].id
    doc = json.loads(render(result, "sarif", failing=[], accepted={fid: "documented in the data card"}))
    jsonschema.validate(doc, SARIF_SUBSET)
    res = next(r for r in doc["runs"][0]["results"] if r["partialFingerprints"]["biasauditFindingId/v1"] == fid)
    assert res["suppressions"] == [{"kind": "external", "status": "accepted",
                                    "justification": "documented in the data card"}]
    assert res["level"] == "warning"


# ------------------------------------------------------------------ the CLI
@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "biasaudit.toml").write_text("")
    generate_dogs_cats(600, seed=0, planted=True).to_csv(tmp_path / "animals.csv", index=False)
    return tmp_path


def test_cli_several_formats(cwd):
    r = CliRunner().invoke(cli, ["scan", "animals.csv", "-l", "species", "--no-probe", "--fail-on", "critical",
                                 "--format", "junit", "-o", "out/junit.xml", "--format", "sarif", "-o", "out/r.sarif",
                                 "--format", "json", "-o", "out/r.json"])
    assert r.exit_code == 1, r.output  # planted: critical findings
    report = json.loads((cwd / "out" / "r.json").read_text())
    # every critical finding fails, folded under another or not
    critical = {f["id"] for f in report["findings"] if f["severity"] == "critical"}
    assert any(f["explained_by"] for f in report["findings"] if f["severity"] == "critical")
    root = ET.parse(cwd / "out" / "junit.xml").getroot()
    assert {c.get("name") for c in root.iter("testcase") if c.find("failure") is not None} == critical
    sarif = json.loads((cwd / "out" / "r.sarif").read_text())
    jsonschema.validate(sarif, SARIF_SUBSET)
    errors = {res["partialFingerprints"]["biasauditFindingId/v1"] for res in sarif["runs"][0]["results"]
              if res["level"] == "error"}
    assert errors == critical
    assert not list((cwd / "out").glob(".*.tmp"))


def test_cli_output_dir(cwd):
    r = CliRunner().invoke(cli, ["scan", "animals.csv", "-l", "species", "--no-probe", "--output-dir", "reports",
                                 "--format", "junit", "--format", "sarif", "--format", "text"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (cwd / "reports").iterdir()) == ["biasaudit-junit.xml", "biasaudit.sarif",
                                                                   "biasaudit.txt"]
    ET.parse(cwd / "reports" / "biasaudit-junit.xml")


BAD = [
    (["--format", "json", "--format", "junit"], "need one -o each"),
    (["--format", "json", "--format", "junit", "-o", "a.json"], "2 --format but 1 -o"),
    (["--format", "json", "-o", "a.json", "--output-dir", "x"], "not both"),
    (["--format", "json", "-o", "a", "--format", "junit", "-o", "a"], "same file"),
    (["--format", "json", "-o", "animals.csv"], "is the input file"),
    (["--format", "xml"], "Invalid value for '--format'"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[b[1] for b in BAD])
def test_cli_bad_output_options_exit_2(cwd, args, message):
    r = CliRunner().invoke(cli, ["scan", "animals.csv", "--no-probe", *args])
    assert r.exit_code == 2 and message in r.stderr
    assert (cwd / "animals.csv").stat().st_size > 1000  # the input is untouched
