"""Every case of the hostile-input review (issue 14) reproduced: each must end in exit 0/1, or exit 2
with one line on stderr, with every input file unchanged.

Most cases run in-process (:func:`test_cli.run_cli`); the ones that measure memory or signals run
in a subprocess (memory capped with ``RLIMIT_AS``, a wall-clock timeout on each).
"""
from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import DATASETS, ROOT
from test_cli import run_cli

DOGS = (DATASETS / "dogs_cats.csv").read_bytes()
REFERENCE = (DATASETS / "dogs_cats_reference.csv").read_bytes()


def digest(*paths) -> dict:
    """SHA-256 of every file under ``paths`` (files or folders)."""
    out = {}
    for p in map(Path, paths):
        for f in ([p] if p.is_file() else sorted(x for x in p.rglob("*") if x.is_file())):
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def assert_refused(r, *needles):
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("biasaudit: error: "), r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    for n in needles:
        assert n in r.stderr, (n, r.stderr)


def assert_ok(r):
    assert r.returncode in (0, 1), r.stderr
    assert "Traceback" not in r.stderr and "error" not in r.stderr.lower() and "Warning" not in r.stderr, r.stderr


@pytest.fixture
def files(tmp_path):
    """data, reference, config, compare, a baseline and a weight file, all valid."""
    data = tmp_path / "data.csv"
    data.write_bytes(DOGS)
    ref = tmp_path / "ref.csv"
    ref.write_bytes(REFERENCE)
    cfg = tmp_path / "biasaudit.toml"
    cfg.write_text('label = "species"\n')
    cmp_ = tmp_path / "cmp.csv"
    cmp_.write_bytes(DOGS)
    base = tmp_path / "base.json"
    assert run_cli("scan", data, "--no-probe", "--no-config", "-q", "--write-baseline", base).returncode == 0
    wf = tmp_path / "w.csv"
    wf.write_text("weight\n" + "1\n" * 14)
    return {"data": data, "reference": ref, "config": cfg, "compare": cmp_, "baseline": base, "weight": wf}


def _png(path: Path, color) -> None:
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), color).save(path)


@pytest.fixture
def images(tmp_path):
    """A class folder imgs/{a,b}/ and a manifest listing its images."""
    root = tmp_path / "imgs"
    for i in range(4):
        _png(root / "a" / f"{i}.png", (200, 20 * i, 0))
        _png(root / "b" / f"{i}.png", (0, 20 * i, 200))
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,y\n" + "".join(f"imgs/{c}/{i}.png,{c}\n" for c in "ab" for i in range(4)))
    return root, manifest


# ------------------------------------------------------------------ data loss: outputs never touch inputs
OUTPUT_CLASHES = [
    ("write-baseline is the data", ["--write-baseline", "{data}"], "data"),
    ("write-baseline is the reference", ["--reference", "{reference}", "--write-baseline", "{reference}"],
     "reference"),
    ("-o is the reference", ["--reference", "{reference}", "-o", "{reference}"], "reference"),
    ("-o is the baseline", ["--baseline", "{baseline}", "-o", "{baseline}"], "baseline"),
    ("-o is the weight file", ["--weight-file", "{weight}", "-o", "{weight}"], "weight"),
    ("-o is the config", ["--config", "{config}", "-o", "{config}"], "configuration"),
    ("-o is the compare file", ["--compare", "{compare}", "-o", "{compare}"], "compare"),
    ("--cache is the data", ["--cache", "{data}"], "data"),
]


@pytest.mark.parametrize("name,args,role", OUTPUT_CLASHES, ids=[c[0] for c in OUTPUT_CLASHES])
def test_output_that_is_an_input_is_refused(files, name, args, role):
    before = digest(*files.values())
    r = run_cli("scan", files["data"], "--no-probe", *[a.format(**files) for a in args])
    assert_refused(r, f"(the {role}); writing there would destroy it")
    assert digest(*files.values()) == before


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_output_through_a_link_to_an_input_is_refused(files, link):
    alias = files["data"].with_name("alias.csv")
    (os.symlink if link == "symlink" else os.link)(files["data"], alias)
    before = digest(files["data"])
    r = run_cli("scan", files["data"], "--no-probe", "-o", alias)
    assert_refused(r, "(the data);")
    assert digest(files["data"]) == before


def test_config_found_by_search_is_an_input(files):
    before = digest(files["config"])
    r = run_cli("scan", "data.csv", "--no-probe", "-o", "biasaudit.toml", cwd=files["data"].parent)
    assert_refused(r, "(the configuration);")
    assert digest(files["config"]) == before


@pytest.mark.parametrize("option", ["-o", "--cache", "--output-dir"])
def test_outputs_inside_an_audited_image_folder_are_refused(images, option):
    root, _ = images
    before = digest(root)
    target = root / "out" if option == "--output-dir" else root / "b" / "0.png"
    r = run_cli("scan", root, "--no-probe", option, target)
    assert_refused(r, "lies inside the audited image folder")
    assert digest(root) == before and not (root / "out").exists()


@pytest.mark.parametrize("option", ["-o", "--cache"])
def test_output_naming_a_listed_manifest_image_is_refused(images, option):
    root, manifest = images
    before = digest(root, manifest)
    r = run_cli("scan", manifest, "--no-probe", "-l", "y", option, root / "a" / "3.png")
    assert_refused(r, "the audited image")
    assert digest(root, manifest) == before


def test_reweigh_diff_and_claim_outputs_are_checked(files):
    before = digest(*files.values())
    assert_refused(run_cli("reweigh", files["data"], "-s", "size", "-o", files["data"]), "(the data);")
    assert_refused(run_cli("reweigh", files["data"], "--reference", files["reference"], "-o", files["reference"]),
                   "(the reference);")
    assert_refused(run_cli("diff", files["data"], files["compare"], "--no-probe", "-o", files["compare"]),
                   "(the new data);")
    assert_refused(run_cli("claim", files["data"], "never DOG where size=small", "-o", files["data"]),
                   "(the data);")
    assert digest(*files.values()) == before


# ------------------------------------------------------------------ bounds
def _csv_lines(n_rows: int) -> bytes:
    return b"a,b,y\n" + b"x,p,0\ny,q,1\n" * (n_rows // 2)


def _compress(path: Path, kind: str, payload_chunks) -> Path:
    if kind == "zip":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            with zf.open("table.csv", "w") as fh:
                for chunk in payload_chunks:
                    fh.write(chunk)
        return path
    opener = {"gz": gzip.open, "bz2": bz2.open, "xz": lzma.open}[kind]
    with opener(path, "wb") as fh:
        for chunk in payload_chunks:
            fh.write(chunk)
    return path


@pytest.mark.parametrize("kind,name", [("gz", "bomb.csv.gz"), ("bz2", "bomb.csv.bz2"), ("zip", "bomb.csv.zip"),
                                       ("xz", "bomb.csv.xz"), ("gz", "bomb.jsonl.gz")])
def test_compression_bomb_is_refused_by_ratio(tmp_path, kind, name):
    """8 MB of repetitive text; with the ratio checked past 1 MB, the stream stops there."""
    line = b'{"a": "x", "y": 0}\n' if "jsonl" in name else b"x,p,0\n"
    head = b"" if "jsonl" in name else b"a,b,y\n"
    path = _compress(tmp_path / name, kind, [head] + [line * 100_000] * (8_000_000 // len(line) // 100_000))
    assert path.stat().st_size * 100 < 8_000_000  # it is a bomb at ratio 100
    before = digest(path)
    r = run_cli("scan", path, "--no-probe", "--limit", "ratio_floor_bytes=1MB")
    assert_refused(r, "decompresses to over 100 times its size", "--limit decompression_ratio=")
    r = run_cli("scan", path, "--no-probe", "--limit", "decompressed_bytes=2MB", "--limit", "ratio_floor_bytes=1GB")
    assert_refused(r, "decompresses to more than 2.0 MB", "--limit decompressed_bytes=")
    assert digest(path) == before


def test_raised_limit_reads_the_same_file(tmp_path):
    path = _compress(tmp_path / "ok.csv.gz", "gz", [_csv_lines(200_000)])
    r = run_cli("scan", path, "--no-probe", "-q", "--limit", "ratio_floor_bytes=100KB", "--limit",
                "decompression_ratio=100000")
    assert r.returncode == 0, r.stderr
    assert "200,000 rows" in r.stdout


def test_one_line_of_megabytes_is_refused(tmp_path):
    path = _compress(tmp_path / "line.csv.gz", "gz", [b"a,b,y\nx,", b"p" * 3_000_000, b",0\ny,q,1\n"])
    r = run_cli("scan", path, "--no-probe", "--limit", "line_bytes=1MB")
    assert_refused(r, "has a line longer than 1.0 MB", "--limit line_bytes=")
    plain = tmp_path / "line.csv"
    plain.write_bytes(b"a,b,y\nx," + b"p" * 3_000_000 + b",0\ny,q,1\n")
    assert_refused(run_cli("scan", plain, "--no-probe", "--limit", "line_bytes=1MB"), "has a line longer than")


@pytest.mark.parametrize("engine", ["memory", "stream"])
def test_long_cell_is_shortened_in_every_report(tmp_path, engine):
    """A 200 kB value: the report names it by a short prefix and hash, never whole; counts unchanged."""
    rng = np.random.default_rng(0)
    big = "Z" * 200_000
    df = pd.DataFrame({"a": rng.choice([big, "s"], 60), "b": rng.choice(["p", "q"], 60), "y": rng.integers(0, 2, 60)})
    data = tmp_path / "cell.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "r.json"
    r = run_cli("scan", data, "--format", "json", "-o", out, "-l", "y", "--engine", engine)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert big not in text and "Z" * 200 not in text
    assert out.stat().st_size < 200_000
    short = "Z" * 108 + "…#" + hashlib.sha1(big.encode()).hexdigest()[:8]
    doc = json.loads(text)
    groups = {g["group"]: g["n"] for g in doc["groups"] if g["attribute"] == "a"}
    assert groups == {short: int((df["a"] == big).sum()), "s": int((df["a"] == "s").sum())}


def test_coco_with_repeated_image_ids_is_refused(tmp_path):
    doc = {"images": [{"id": 1, "file_name": f"{i}.jpg", "width": 10, "height": 10} for i in range(2000)],
           "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]} for _ in range(2000)],
           "categories": [{"id": 1, "name": "dog"}]}
    path = tmp_path / "instances_x.json"
    path.write_text(json.dumps(doc))
    assert_refused(run_cli("scan", path, "--no-probe"), "image id 1 appears 2,000 times", "must be unique")


BAD_SETTINGS = [
    (["--bins", "0"], "The 'bins' setting must be an integer from 2 to 20. Got 0 instead."),
    (["--bins", "1000"], "The 'bins' setting must be an integer from 2 to 20. Got 1000 instead."),
    (["--bins", "-3"], "The 'bins' setting must be an integer from 2 to 20. Got -3 instead."),
    (["--max-levels", "0"], "The 'max_levels' setting must be an integer >= 2. Got 0 instead."),
    (["--threshold", "nan"], "The 'threshold' setting must be a finite number"),
    (["--threshold", "inf"], "The 'threshold' setting must be a finite number"),
    (["--encoding", "bogus"], "The 'encoding' setting must be a text encoding"),
    (["--encoding", "rot13"], "The 'encoding' setting must be a text encoding"),
    (["--random-state", "-1"], "The 'random_state' setting must be an integer from 0 to 4294967295"),
    (["--alpha", "nan"], "The 'alpha' setting must be a number in [1e-10, 1)"),
    (["--limit", "line_bytes=0"], "The limit 'line_bytes' must be positive"),
    (["--limit", "bogus=1"], "Unknown limit 'bogus'"),
]


@pytest.mark.parametrize("args,message", BAD_SETTINGS, ids=[" ".join(a) for a, _ in BAD_SETTINGS])
def test_bad_settings_are_refused_alike_on_the_command_line(args, message):
    assert_refused(run_cli("scan", DATASETS / "dogs_cats.csv", "--no-probe", *args), message)


@pytest.mark.parametrize("text,message", [
    ("bins = 0\n", "The 'bins' setting must be an integer from 2 to 20. Got 0 instead."),
    ("bins = 1000\n", "The 'bins' setting must be an integer from 2 to 20. Got 1000 instead."),
    ("bins = -3\n", "The 'bins' setting must be an integer from 2 to 20. Got -3 instead."),
    ("max_levels = 0\n", "The 'max_levels' setting must be an integer >= 2. Got 0 instead."),
])
def test_bad_settings_are_refused_alike_in_the_config(tmp_path, text, message):
    cfg = tmp_path / "biasaudit.toml"
    cfg.write_text(text)
    assert_refused(run_cli("scan", DATASETS / "dogs_cats.csv", "--no-probe", "--config", cfg), message)


@pytest.mark.parametrize("name,value,message", [
    ("n_bins", 0, "The 'bins' setting must be an integer from 2 to 20. Got 0 instead."),
    ("bins", 1000, "The 'bins' setting must be an integer from 2 to 20. Got 1000 instead."),
    ("max_levels", 0, "The 'max_levels' setting must be an integer >= 2. Got 0 instead."),
    ("threshold", float("nan"), "The 'threshold' setting must be a finite number"),
    ("random_state", -1, "The 'random_state' setting must be an integer from 0 to 4294967295. Got -1 instead."),
    ("bins", True, "The 'bins' setting must be an integer from 2 to 20. Got True instead."),
])
def test_bad_settings_are_refused_alike_in_python(name, value, message):
    from biasaudit.validation import SettingError, validate
    with pytest.raises(SettingError) as err:
        validate(name, value)
    assert message in str(err.value) and isinstance(err.value, ValueError)


# ------------------------------------------------------------------ crashes on valid data
def test_label_value_only_where_an_attribute_is_missing(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a,b,y\nx,p,0\nz,q,1\nx,p,0\nz,q,1\n,q,2\nx,,0\n")
    r = run_cli("scan", data, "--no-probe", "-q", "--format", "json")
    assert_ok(r)
    doc = json.loads(r.stdout)
    assert doc["dataset"]["label_counts"] == {"0": 3, "1": 2, "2": 1}
    # existence findings of label 2 for 'a' are left out (it occurs only where 'a' is missing)
    assert not [f for f in doc["findings"] if f["id"] == "overgeneralization:existence:a:label=2"]


def test_image_folder_with_a_class_of_unreadable_images(tmp_path):
    root = tmp_path / "imgs"
    for i in range(3):
        _png(root / "a" / f"{i}.png", (200, 0, 0))
        _png(root / "b" / f"{i}.png", (0, 0, 200))
    (root / "c").mkdir()
    for i in range(2):
        (root / "c" / f"{i}.png").write_bytes(b"not a png")
    before = digest(root)
    r = run_cli("scan", root, "--no-probe", "-q", "--format", "json")
    assert_ok(r)
    doc = json.loads(r.stdout)
    assert doc["dataset"]["label_counts"] == {"a": 3, "b": 3, "c": 2}
    assert digest(root) == before


@pytest.mark.parametrize("engine", ["memory", "stream"])
def test_infinite_numbers_go_to_the_outer_bins(tmp_path, engine):
    rng = np.random.default_rng(1)
    n = np.round(rng.uniform(0, 100, 200), 3)
    n[::10] = np.inf
    n[5::20] = -np.inf
    df = pd.DataFrame({"a": rng.choice(["x", "y"], 200), "n": n, "y": rng.integers(0, 2, 200)})
    data = tmp_path / "inf.csv"
    df.to_csv(data, index=False)
    r = run_cli("scan", data, "--no-probe", "-q", "--format", "json", "--engine", engine, "-l", "y")
    assert_ok(r)
    doc = json.loads(r.stdout)
    finite = n[np.isfinite(n)]
    cuts = doc["dataset"]["bins"]["n"]  # inner cut points; the outer bins are open (<= first, > last)
    assert all(np.isfinite(cuts)) and len(cuts) == 4
    quantiles = np.quantile(finite, np.linspace(0, 1, 6))[1:-1]  # of the finite values only
    assert np.allclose(cuts, quantiles, rtol=0.05)  # rounded to stable values (levels.nice_cuts)
    groups = {g["group"]: g["n"] for g in doc["groups"] if g["attribute"] == "n"}
    assert sum(groups.values()) == 200  # no row lost to a missing bin
    assert groups[f"<={cuts[0]:g}"] == int((n <= cuts[0]).sum()) and (n == -np.inf).sum() == 10
    assert groups[f">{cuts[-1]:g}"] == int((n > cuts[-1]).sum()) and (n == np.inf).sum() == 20


def test_all_zero_weights_are_a_data_error(tmp_path):
    data = tmp_path / "w.csv"
    data.write_text("a,w,y\nx,0,0\ny,0,1\nx,0,0\ny,0,1\n")
    assert_refused(run_cli("scan", data, "--weight", "w", "--no-probe"), "Every weight in 'w' is 0")


@pytest.mark.parametrize("w", ["1e308", "1e-300"])
def test_extreme_weights_give_the_rates_of_unit_weights(tmp_path, w):
    """Weights all equal to 1e308 or 1e-300 weigh every row alike: the same counts as no weights."""
    rows = "".join(f"{a},{w},{y}\n" for a, y in [("x", 0), ("y", 1), ("x", 0), ("y", 1), ("x", 1), ("y", 0)] * 5)
    data = tmp_path / "w.csv"
    data.write_text("a,w,y\n" + rows)
    r = run_cli("scan", data, "--weight", "w", "--no-probe", "-q", "--format", "json", "-l", "y")
    assert_ok(r)
    doc = json.loads(r.stdout)
    groups = {g["group"]: g for g in doc["groups"] if g["attribute"] == "a"}
    assert groups["x"]["n"] == pytest.approx(15) and groups["y"]["n"] == pytest.approx(15)


def test_kish_effective_size_is_scale_free():
    from biasaudit.engine.weights import kish_n_eff
    w = np.array([1.0, 2.0, 3.0, 4.0])
    expected = w.sum() ** 2 / (w ** 2).sum()  # 100 / 30
    for scale in (1.0, 1e300, 1e-300):
        assert kish_n_eff(w * scale) == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------ injection
def test_reweigh_ids_cannot_inject_formulas(tmp_path):
    ids = ["=cmd|' /C calc'!A0", "@SUM(1,1)", "+1+2", "-3-", "\tx", "ok", "ok2", "'=already"]
    df = pd.DataFrame({"id": ids, "a": list("xyxyxyxy"), "y": [0, 1, 1, 0, 0, 1, 1, 0]})
    data, out = tmp_path / "d.csv", tmp_path / "w.csv"
    df.to_csv(data, index=False)
    r = run_cli("reweigh", data, "-s", "a", "--id", "id", "-l", "y", "-o", out, "-q")
    assert r.returncode == 0, r.stderr
    written = pd.read_csv(out, dtype={"id": str}, keep_default_na=False)["id"].tolist()
    for v in written:
        assert not v.startswith(("=", "+", "-", "@", "\t", "\r")), v
    assert "'=cmd|' /C calc'!A0" in written and "'@SUM(1,1)" in written
    # the file still matches the data it was made for
    r = run_cli("scan", data, "--id", "id", "-l", "y", "--weight-file", out, "--no-probe", "-q")
    assert r.returncode == 0, r.stderr


def test_terminal_escapes_from_the_data_are_shown_escaped(tmp_path):
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"color\x1b]0;pwned\x07": rng.choice(["red\x1b[31m", "blue\u202egnp.exe"], 60),
                       "size": rng.choice(["s", "l"], 60), "y": rng.integers(0, 2, 60)})
    data = tmp_path / "esc.csv"
    df.to_csv(data, index=False)
    r = run_cli("scan", data, "--no-probe", "-l", "y")
    assert r.returncode == 0
    for stream in (r.stdout, r.stderr):
        assert "\x1b" not in stream and "\x07" not in stream and "\u202e" not in stream
    assert "color\\x1b]0;pwned\\x07" in r.stdout and "blue\\u202egnp.exe" in r.stdout
    html = tmp_path / "r.html"
    assert run_cli("scan", data, "--no-probe", "-l", "y", "-q", "--format", "html", "-o", html).returncode == 0
    page = html.read_text()
    assert "\u202e" not in page and "\x1b" not in page and "blue\\u202egnp.exe" in page


def test_baseline_ids_are_not_echoed_raw(tmp_path):
    base = tmp_path / "base.json"
    data = tmp_path / "d.csv"
    data.write_bytes(DOGS)
    assert run_cli("scan", data, "--no-probe", "-q", "--write-baseline", base).returncode == 0
    doc = json.loads(base.read_text())
    first = next(iter(doc["findings"].values()))
    doc["findings"]["evil\x1b]0;owned\x07\u202e"] = {**first, "severity": "high"}
    base.write_text(json.dumps(doc))
    r = run_cli("scan", data, "--no-probe", "--baseline", base)
    assert "\x1b" not in r.stderr and "\u202e" not in r.stderr
    assert "evil\\x1b]0;owned\\x07\\u202e" in r.stderr


# ------------------------------------------------------------------ interrupted writes
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_signal_during_a_write_leaves_no_temporary_file(tmp_path, sig):
    code = (
        "import os, signal, sys, time\n"
        "import biasaudit.report._atomic as a\n"
        "real = os.fsync\n"
        "def fsync(fd):\n"
        f"    os.kill(os.getpid(), signal.{sig}); time.sleep(5)\n"
        "os.fsync = fsync\n"
        "a.atomic_write_text(sys.argv[1], 'report')\n")
    target = tmp_path / "report.html"
    r = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 128 + getattr(signal, sig), r.stderr
    assert list(tmp_path.iterdir()) == []  # neither the report nor .report.html.XXXX.tmp


# ------------------------------------------------------------------ loader messages
COCO_BAD = [
    ("annotation without image_id", {"annotations": [{"category_id": 1}]}, "annotations[0] has no 'image_id'"),
    ("image without id", {"images": [{"file_name": "a.jpg"}]}, "images[0] has no 'id'"),
    ("list as image id", {"images": [{"id": [1], "file_name": "a.jpg"}]}, "images[0].id is a list"),
    ("string as an image", {"images": ["a.jpg"]}, "images[0] is a str, not an object"),
    ("category without id", {"categories": [{"name": "dog"}]}, "categories[0] has no 'id'"),
    ("dict as category id", {"annotations": [{"image_id": 1, "category_id": {"x": 1}}]},
     "annotations[0].category_id is a dict"),
]


@pytest.mark.parametrize("name,patch,message", COCO_BAD, ids=[c[0] for c in COCO_BAD])
def test_malformed_coco_names_the_entry(tmp_path, name, patch, message):
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 4}],
           "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}],
           "categories": [{"id": 1, "name": "dog"}]}
    doc.update(patch)
    path = tmp_path / "instances_x.json"
    path.write_text(json.dumps(doc))
    assert_refused(run_cli("scan", path, "--no-probe"), message, str(path))


def test_coco_with_odd_optional_fields_loads(tmp_path):
    """Wrong types in optional fields (bbox, width, license, dates) become missing values, not crashes."""
    doc = {"images": [{"id": i, "file_name": f"{i}.jpg", "width": "wide" if i == 0 else 40, "height": 30,
                       "license": [1, 2] if i == 1 else 1, "date_captured": {"y": 1}}
                      for i in range(12)],
           "annotations": [{"image_id": i, "category_id": 1 + i % 2, "bbox": "0 0 1 1" if i == 2 else [0, 0, 4, 3]}
                           for i in range(12)],
           "categories": [{"id": 1, "name": "dog"}, {"id": 2, "name": ["cat"]}]}
    path = tmp_path / "instances_x.json"
    path.write_text(json.dumps(doc))
    from biasaudit.loaders.coco import load_coco
    df = load_coco(path, image_features=False)
    assert len(df) == 12 and df["n_objects"].tolist() == [1] * 12
    assert np.isnan(df.loc[0, "aspect_ratio"]) and df.loc[1, "aspect_ratio"] == pytest.approx(40 / 30, abs=1e-3)
    assert np.isnan(df.loc[2, "box_area_mean"]) and df.loc[3, "box_area_mean"] == pytest.approx(12 / 1200)


def test_deeply_nested_json_is_one_line(tmp_path):
    path = tmp_path / "instances_deep.json"
    path.write_text('{"images": [' + "[" * 100_000 + "]" * 100_000 + '], "annotations": [], "categories": []}')
    assert_refused(run_cli("scan", path, "--no-probe"), "nests JSON values too deeply")


CELEBA_BAD = [
    ("3\nA B\nx.jpg 1 -1\ny.jpg -1 1\nz.jpg 1 banana\n", "line 5, attribute 'B' is 'banana'"),
    ("3\nA B\nx.jpg 1 -1\ny.jpg -1\nz.jpg 1 1\n", "line 4 has 2 fields"),
    ("3\nA B\nx.jpg 1 -1\ny.jpg -1 1 1\nz.jpg 1 1\n", "line 4 has 4 fields"),
    ("3\nA B\nx.jpg 1 -1\ny.jpg -1 300\nz.jpg 1 1\n", "line 4, attribute 'B' is '300'"),
    ("3\nA B\nx.jpg 1 -1\ny.jpg -1 1\nz.jpg 1 0\n", "attribute values must be 1 or -1"),
]


@pytest.mark.parametrize("text,message", CELEBA_BAD, ids=[c[1] for c in CELEBA_BAD])
def test_malformed_celeba_names_the_line(tmp_path, text, message):
    path = tmp_path / "list_attr.txt"
    path.write_text(text)
    assert_refused(run_cli("scan", path, "--no-probe"), message)


def test_nested_json_lines_names_the_line_and_key(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1, "y": 0}\n{"a": 2, "y": 1}\n{"a": {"b": 2}, "y": 1}\n')
    from biasaudit.loaders._checks import NESTED_JSON
    assert_refused(run_cli("scan", path, "--no-probe"),
                   NESTED_JSON.format(path=path, line=3, key="a", kind="object"))


def test_encoding_is_checked_in_python_too(tmp_path):
    from biasaudit import load
    from biasaudit.validation import SettingError
    with pytest.raises(SettingError, match="The 'encoding' setting must be a text encoding"):
        load(DATASETS / "dogs_cats.csv", encoding="bogus")


# ------------------------------------------------------------------ memory and time, in a capped process
def run_capped(args, mem_mb: int, timeout: float):
    """``biasaudit ARGS`` in a subprocess whose address space is capped at ``mem_mb`` MiB."""
    code = ("import resource, sys\n"
            f"m = {mem_mb} * 2 ** 20\n"
            "resource.setrlimit(resource.RLIMIT_AS, (m, m))\n"
            "from biasaudit.integrations.cli import main\n"
            "main(sys.argv[1:])\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_gzip_bomb_with_default_limits_stays_within_memory(tmp_path):
    """320 MB of CSV in a 0.4 MB .gz: refused once 64 MB are read, in a process capped at 2 GiB."""
    path = _compress(tmp_path / "bomb.csv.gz", "gz", [b"a,b,y\n"] + [b"x,p,0\n" * 1_000_000] * 53)
    r = run_capped(["scan", path, "--no-probe"], 2048, timeout=240)
    assert r.returncode == 2, r.stderr
    assert "refused as a possible compression bomb" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_large_16_bit_image_is_shrunk_before_any_float_copy(tmp_path):
    """A 60-megapixel 16-bit PNG (120 MB of pixels; as float64 480 MB, several copies before the fix)."""
    from PIL import Image
    root = tmp_path / "imgs"
    a = np.zeros((7750, 7750), dtype=np.uint16)
    a[::7] = 40000
    (root / "a").mkdir(parents=True)
    Image.fromarray(a).save(root / "a" / "big.png")
    del a
    for i in range(3):
        _png(root / "a" / f"{i}.png", (200, 0, 0))
        _png(root / "b" / f"{i}.png", (0, 0, 200))
    r = run_capped(["scan", root, "--no-probe", "-q", "--format", "json"], 2048, timeout=240)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["dataset"]["n_rows_audited"] == 7


def test_image_pixel_limit_refuses_large_images_and_keeps_the_rest(tmp_path):
    root = tmp_path / "imgs"
    for i in range(3):
        _png(root / "a" / f"{i}.png", (200, 0, 0))
        _png(root / "b" / f"{i}.png", (0, 0, 200))
    from PIL import Image
    Image.new("RGB", (40, 40), (0, 200, 0)).save(root / "b" / "big.png")  # 1,600 pixels
    r = run_cli("scan", root, "--no-probe", "-q", "--format", "json", "--limit", "image_pixels=1000")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    skipped = {s["path"]: s["reason"] for s in doc["dataset"].get("skipped", [])}
    assert skipped["b/big.png"].startswith("decompression bomb refused")
    assert [p for p in skipped if p != "b/big.png"] == []
    from PIL import Image as _I
    assert _I.MAX_IMAGE_PIXELS == 89_478_485 or _I.MAX_IMAGE_PIXELS is None  # Pillow's guard restored


def test_json_size_limit(tmp_path):
    doc = {"images": [{"id": i, "file_name": f"{i}.jpg"} for i in range(50)], "annotations": [],
           "categories": [{"id": 1, "name": "dog"}]}
    path = tmp_path / "instances_x.json"
    path.write_text(json.dumps(doc))
    assert_refused(run_cli("scan", path, "--no-probe", "--limit", "json_bytes=1KB"),
                   "larger than the json_bytes limit", "--limit json_bytes=")


def test_compressed_files_stream_through_the_one_engine_like_the_plain_file(tmp_path):
    """One engine for every input: a gzip, bz2 or xz file is decompressed chunk by chunk (never whole
    in memory) and gives the very audit of the plain file."""
    import biasaudit as ba
    from biasaudit.loaders._guard import decompressed_size
    rng = np.random.default_rng(3)
    n = 20_000
    a = rng.choice(["x", "y", "z"], n)
    y = (rng.random(n) < np.where(a == "x", 0.6, 0.4)).astype(int)
    payload = pd.DataFrame({"a": a, "b": rng.choice(["p", "q"], n), "y": y}).to_csv(index=False).encode()
    plain = tmp_path / "d.csv"
    plain.write_bytes(payload)
    files = {kind: _compress(tmp_path / f"d.csv.{kind}", kind, [payload]) for kind in ("gz", "bz2", "xz")}
    assert decompressed_size(files["gz"], "gzip") == len(payload)  # the gzip trailer, exact below 4 GiB
    assert decompressed_size(files["bz2"], "bz2") is None  # bz2 does not record it
    ref = ba.audit(plain, label="y", probe=False, chunk_size=3_000)
    expected = [(f.id, f.p_value) for f in ref.findings]
    assert any(f.id.startswith("group_attribution:a") for f in ref.findings)
    for kind, path in files.items():
        r = ba.audit(path, label="y", probe=False, chunk_size=3_000)
        assert r.dataset["n_rows"] == n, kind
        assert [(f.id, f.p_value) for f in r.findings] == expected, kind
        assert "chunks of 3,000 rows" in r.sections["engine"]["text"][0], kind
