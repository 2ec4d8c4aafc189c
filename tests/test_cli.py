"""The real entry point in a real process: exit codes, one-line errors, no tracebacks."""
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from conftest import DATASETS, ROOT


def run(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "biasaudit", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=120)


def _write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_scan_dogs_cats_text():
    r = run("scan", DATASETS / "dogs_cats.csv", "--no-probe")
    assert r.returncode == 0, r.stderr
    assert "14 rows" in r.stdout and "species" in r.stdout
    assert "GROUP ATTRIBUTION" in r.stdout
    assert "using 'species' (the last column)" in r.stderr


def test_version():
    r = run("--version")
    assert r.returncode == 0 and "biasaudit" in r.stdout


def test_json_to_file_and_fail_on(tmp_path):
    out = tmp_path / "audit.json"
    r = run("scan", DATASETS / "german_credit.csv", "-l", "credit", "-s", "sex", "-s", "age", "--no-probe",
            "--format", "json", "-o", out, "--fail-on", "low")
    doc = json.loads(out.read_text())
    assert doc["dataset"]["label"] == "credit" and doc["dataset"]["sensitive"] == ["sex", "age"]
    established = [f for f in doc["findings"] if f["severity"] in ("critical", "high", "medium", "low")]
    assert r.returncode == (1 if established else 0), r.stderr
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temp file


BAD = [
    ("missing file", lambda t: t / "nope.csv", [], "File not found"),
    ("directory", lambda t: t, [], "is a directory"),
    ("unknown format", lambda t: _write(t, "d.xlsx", b"PK\x03\x04junk"), [], "Unknown file format"),
    ("empty file", lambda t: _write(t, "d.csv", b""), [], "is empty"),
    ("header only", lambda t: _write(t, "d.csv", b"a,b,y\n"), [], "no rows"),
    ("label not found", lambda t: DATASETS / "dogs_cats.csv", ["-l", "Species"], "Did you mean 'species'"),
    ("sensitive not found", lambda t: DATASETS / "dogs_cats.csv", ["-s", "colour"], "Did you mean 'color'"),
    ("constant label", lambda t: _write(t, "d.csv", b"a,y\nx,1\nz,1\nx,1\n"), [], "one value"),
    ("negative weight", lambda t: _write(t, "d.csv", b"a,w,y\nx,1,0\nz,-2,1\nx,3,1\n"), ["--weight", "w"], "negative"),
    ("text weight", lambda t: _write(t, "d.csv", b"a,w,y\nx,1,0\nz,abc,1\nx,3,1\n"), ["--weight", "w"], "non-numeric"),
    ("non-utf8", lambda t: _write(t, "d.csv", "a,y\nZo\xeb,1\nx,0\n".encode("latin-1")), [], "--encoding"),
    ("corrupt gzip", lambda t: _write(t, "d.csv.gz", b"\x1f\x8bnot really gzip"), [], "Cannot read"),
    ("bad option value", lambda t: DATASETS / "dogs_cats.csv", ["--alpha", "2"], "alpha"),
]


@pytest.mark.parametrize("name,make,extra,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_exits_2_with_one_line(tmp_path, name, make, extra, message):
    r = run("scan", make(tmp_path), *extra, "--no-probe")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("biasaudit: ") and
                not ln.startswith("Usage") and not ln.startswith("Try")]) <= 1


def test_debug_shows_traceback(tmp_path):
    r = run("scan", tmp_path / "nope.csv", "--debug")
    assert r.returncode == 2 and "Traceback" in r.stderr


def test_output_cannot_overwrite_input(tmp_path):
    p = _write(tmp_path, "d.csv", (DATASETS / "dogs_cats.csv").read_bytes())
    before = p.read_bytes()
    r = run("scan", p, "-o", p, "--no-probe")
    assert r.returncode == 2 and "input file" in r.stderr
    assert p.read_bytes() == before
