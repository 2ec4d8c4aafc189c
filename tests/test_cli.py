"""The command line: exit codes, one-line errors, no tracebacks.

Every case runs in-process through :func:`run_cli` (click's ``CliRunner`` isolation around the real
``main()``, so the one-line error handling is the one users get); one smoke test starts a real
process to check the entry point itself.
"""
import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from biasaudit.integrations.cli import main
from conftest import DATASETS, ROOT


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args, cwd=None) -> Run:
    """``biasaudit ARGS`` in this process: exit code, stdout and stderr as a user sees them."""
    runner = CliRunner()
    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with runner.isolation() as (out, err, _):
            argv, sys.argv = sys.argv, ["biasaudit", *map(str, args)]
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            finally:
                sys.argv = argv
            stdout, stderr = out.getvalue().decode("utf-8", "replace"), err.getvalue().decode("utf-8", "replace")
    finally:
        os.chdir(old)
    return Run(code, stdout, stderr)


def _write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_real_process_smoke():
    """The installed entry point in a real process: report on stdout, notes on stderr, exit 0."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "biasaudit", "scan", str(DATASETS / "dogs_cats.csv"), "--no-probe"],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "14 rows" in r.stdout and "GROUP ATTRIBUTION" in r.stdout
    assert "using 'species' (the last column)" in r.stderr


def test_scan_dogs_cats_text():
    r = run_cli("scan", DATASETS / "dogs_cats.csv", "--no-probe")
    assert r.returncode == 0, r.stderr
    assert "14 rows" in r.stdout and "species" in r.stdout
    assert "GROUP ATTRIBUTION" in r.stdout
    assert "using 'species' (the last column)" in r.stderr


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0 and "biasaudit" in r.stdout


def test_json_to_file_and_fail_on(tmp_path):
    out = tmp_path / "audit.json"
    r = run_cli("scan", DATASETS / "german_credit.csv", "-l", "credit", "-s", "sex", "-s", "age", "--no-probe",
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
    r = run_cli("scan", make(tmp_path), *extra, "--no-probe")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("biasaudit: error: ")


def test_unknown_format_does_not_suggest_the_report_format_option(tmp_path):
    r = run_cli("scan", _write(tmp_path, "d.xyz", b"a,y\n1,0\n"), "--no-probe")
    assert r.returncode == 2 and "--format" not in r.stderr and "rename the file" in r.stderr


def test_debug_shows_traceback(tmp_path):
    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        with pytest.raises(SystemExit) as exc:
            main(["scan", str(tmp_path / "nope.csv"), "--debug"])
        stderr = err.getvalue().decode()
    assert exc.value.code == 2 and "Traceback" in stderr


def test_output_cannot_overwrite_input(tmp_path):
    from biasaudit.integrations.inputs import OUTPUT_IS_INPUT
    p = _write(tmp_path, "d.csv", (DATASETS / "dogs_cats.csv").read_bytes())
    before = p.read_bytes()
    r = run_cli("scan", p, "-o", p, "--no-probe")
    assert r.returncode == 2
    assert r.stderr.strip() == "biasaudit: error: " + OUTPUT_IS_INPUT.format(option="-o", path=p, role="data",
                                                                             input=p)
    assert p.read_bytes() == before


def test_notes_are_not_printed_before_an_error(tmp_path):
    """A run that fails after the audit (here: an unreadable baseline) shows only its error line."""
    bad = _write(tmp_path, "base.json", b"{not json")
    r = run_cli("scan", DATASETS / "dogs_cats.csv", "--no-probe", "--baseline", bad)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "using 'species'" not in r.stderr


def test_os_error_is_a_sentence_without_the_exception_class(tmp_path):
    blocker = _write(tmp_path, "file.txt", b"x")
    r = run_cli("scan", DATASETS / "dogs_cats.csv", "--no-probe", "-o", blocker / "report.txt")
    assert r.returncode == 2
    assert "Error:" not in r.stderr.replace("biasaudit: error:", "")  # no "NotADirectoryError: ..."
    assert "Cannot use" in r.stderr and str(blocker) in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
