"""Random hostile inputs (hypothesis): whatever the bytes, the configuration, the COCO structure or the
option values, a run ends with exit 0/1, or exit 2 and one line on stderr; no traceback, no internal
error, no warning leaking to the user, the input unchanged, and within a time limit.

Runs in-process (``filterwarnings = error`` turns any warning into a failure here too).  Memory is
measured in :mod:`test_hostile_cases` (capped subprocesses), not per example.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time

from hypothesis import HealthCheck, assume, given, settings, strategies as st

from conftest import DATASETS
from test_cli import run_cli

#: Wall-clock bound of one example (the machine is shared: generous, but a quadratic blow-up trips it).
TIME_LIMIT_S = 60
#: Examples per test; raise it locally with BIASAUDIT_FUZZ_EXAMPLES=500 to search harder.
FUZZ = settings(max_examples=int(os.environ.get("BIASAUDIT_FUZZ_EXAMPLES", "15")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow])


def check_run(r, elapsed: float, *, quiet: bool = True) -> None:
    assert r.returncode in (0, 1, 2), (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    if r.returncode == 2:
        assert len(lines) == 1 and lines[0].startswith("biasaudit: error: "), r.stderr
    elif quiet:
        assert len(lines) <= 3, r.stderr
    assert "\x1b" not in r.stdout + r.stderr
    assert elapsed < TIME_LIMIT_S


def timed(*args, **kw):
    t0 = time.monotonic()
    r = run_cli(*args, **kw)
    return r, time.monotonic() - t0


# ------------------------------------------------------------------ random CSV bytes
_cells = st.one_of(st.sampled_from(["", "x", "y", "1", "0", "-1", "nan", "inf", "-inf", "1e308", "true", "NA",
                                    "=cmd", '"', "a,b", "\x1b[31m", "\u202e", "é", "\x00"]),
                   st.text(max_size=6), st.integers(-10**20, 10**20).map(str), st.floats().map(repr))
_rows = st.lists(st.lists(_cells, min_size=1, max_size=5), min_size=0, max_size=30)


@FUZZ
@given(rows=_rows, sep=st.sampled_from([",", ";", "\t", "|"]), junk=st.binary(max_size=40),
       suffix=st.sampled_from([".csv", ".tsv", ".txt", ".jsonl", ".csv.gz"]))
def test_random_tables_never_crash(tmp_path_factory, rows, sep, junk, suffix):
    text = "\n".join(sep.join(r) for r in rows)
    data = text.encode("utf-8", "surrogatepass") + junk
    if suffix.endswith(".gz"):
        import gzip
        data = gzip.compress(data)
    path = tmp_path_factory.mktemp("fuzz") / f"d{suffix}"
    path.write_bytes(data)
    before = hashlib.sha256(data).hexdigest()
    r, elapsed = timed("scan", path, "--no-probe", "-q")
    check_run(r, elapsed)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


# ------------------------------------------------------------------ random configurations
_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(),
                                 st.text(max_size=8)),
                       lambda inner: st.one_of(st.lists(inner, max_size=3),
                                               st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3)),
                       max_leaves=6)
_keys = st.sampled_from(["label", "sensitive", "alpha", "bins", "max_levels", "random_state", "k_max", "probe", "fail_on",
                         "correction", "reference", "accept", "limits", "non_causal", "ids", "weight", "bogus",
                         "reference_group", "n_bins", "random_state"])


def _toml(value) -> str:
    """A TOML value (inline tables and arrays) or None when TOML cannot express it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        parts = [_toml(v) for v in value]
        return None if None in parts else "[" + ", ".join(parts) + "]"
    parts = [(json.dumps(k), _toml(v)) for k, v in value.items()]
    return None if any(p is None for _, p in parts) else "{" + ", ".join(f"{k} = {v}" for k, v in parts) + "}"


@FUZZ
@given(entries=st.dictionaries(_keys, _values, min_size=1, max_size=4))
def test_random_configurations_never_crash(tmp_path_factory, entries):
    lines = []
    for k, v in entries.items():
        t = _toml(v)
        assume(t is not None)
        lines.append(f"{k} = {t}")
    folder = tmp_path_factory.mktemp("cfg")
    cfg = folder / "biasaudit.toml"
    cfg.write_text("\n".join(lines) + "\n")
    data = folder / "d.csv"
    data.write_bytes((DATASETS / "dogs_cats.csv").read_bytes())
    r, elapsed = timed("scan", data, "--no-probe", "-q", "--config", cfg)
    check_run(r, elapsed)


# ------------------------------------------------------------------ random COCO / JSON structures
_json = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False,
                                                                                       allow_infinity=False),
                               st.text(max_size=5)),
                     lambda inner: st.one_of(st.lists(inner, max_size=4),
                                             st.dictionaries(st.sampled_from(["id", "image_id", "category_id",
                                                                              "file_name", "bbox", "name", "width",
                                                                              "height", "license",
                                                                              "supercategory"]), inner, max_size=5)),
                     max_leaves=20)
_entry = st.dictionaries(st.sampled_from(["id", "image_id", "category_id", "file_name", "bbox", "name", "width",
                                          "height", "supercategory", "date_captured"]),
                         st.one_of(st.integers(0, 3), st.text(max_size=4), _json), max_size=6)


@FUZZ
@given(images=st.lists(st.one_of(_entry, _json), max_size=6), annotations=st.lists(st.one_of(_entry, _json),
                                                                                   max_size=6),
       categories=st.lists(st.one_of(_entry, _json), max_size=3))
def test_random_coco_structures_never_crash(tmp_path_factory, images, annotations, categories):
    path = tmp_path_factory.mktemp("coco") / "instances_fuzz.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    r, elapsed = timed("scan", path, "--no-probe", "-q")
    check_run(r, elapsed)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


# ------------------------------------------------------------------ random option values
_option_values = {
    "--bins": st.one_of(st.integers(-5, 30), st.sampled_from(["x", "2.5", "1e3"])),
    "--max-levels": st.one_of(st.integers(-3, 100), st.sampled_from(["", "many"])),
    "--alpha": st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.sampled_from(["0", "1"])),
    "--random-state": st.one_of(st.integers(-2, 2 ** 33), st.just("seed")),
    "--encoding": st.sampled_from(["utf-8", "latin-1", "bogus", "rot13", "utf-16", "ascii", "", "base64"]),
    "--threshold": st.one_of(st.floats().map(repr), st.just("high")),
}


@FUZZ
@given(option=st.sampled_from(sorted(_option_values)), data=st.data())
def test_random_option_values_follow_the_shared_validator(option, data):
    from biasaudit.validation import SettingError, validate
    value = data.draw(_option_values[option])
    name = option.lstrip("-").replace("-", "_")
    r, elapsed = timed("scan", DATASETS / "dogs_cats.csv", "--no-probe", "-q", option, value)
    check_run(r, elapsed)
    try:
        kind = {"bins": int, "max_levels": int, "random_state": int, "alpha": float, "threshold": float}.get(name, str)
        validate(name, kind(value))
        accepted = True
    except (SettingError, ValueError):
        accepted = False
    if not accepted:  # refused: by the shared validator, or by click's type check
        assert r.returncode == 2
    elif r.returncode == 2:  # accepted by the validator: only the data may refuse (e.g. utf-16 text)
        assert option == "--encoding", r.stderr
