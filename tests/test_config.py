"""Configuration files: found from the working directory upward, read with tomllib / configparser,
overridden by flags, and wrong keys or types refused with one line."""
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from biasaudit.integrations.cli import cli
from biasaudit.integrations.config import Accepted, Config, ConfigError, find_config, load_config
from biasaudit.tools.simulate import generate_dogs_cats
from conftest import DATASETS, ROOT


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with a planted dataset and a nested working directory."""
    data = tmp_path / "animals.csv"
    generate_dogs_cats(600, seed=0, planted=True).to_csv(data, index=False)
    work = tmp_path / "pipelines" / "nightly"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    return tmp_path


def scan(*args):
    return CliRunner().invoke(cli, ["scan", *map(str, args)])


# ------------------------------------------------------------------ finding the file
def test_biasaudit_toml_found_from_a_subdirectory(project):
    (project / "biasaudit.toml").write_text('label = "species"\n')
    assert find_config() == project / "biasaudit.toml"
    assert load_config().label == "species"


def test_setup_cfg_without_section_is_skipped_and_search_goes_up(project):
    (project / "biasaudit.toml").write_text('label = "species"\n')
    (project / "pipelines" / "setup.cfg").write_text("[metadata]\nname = x\n")
    assert find_config() == project / "biasaudit.toml"
    (project / "pipelines" / "setup.cfg").write_text("[tool:biasaudit]\nlabel = size\n")
    assert find_config() == project / "pipelines" / "setup.cfg"
    assert load_config().label == "size"


def test_biasaudit_toml_wins_over_setup_cfg_in_the_same_folder(project):
    (project / "setup.cfg").write_text("[tool:biasaudit]\nlabel = size\n")
    (project / "biasaudit.toml").write_text('label = "species"\n')
    assert find_config(project) == project / "biasaudit.toml"


def test_pyproject_table(project):
    (project / "pyproject.toml").write_text('[build-system]\nrequires = []\n\n[tool.biasaudit]\nalpha = 0.01\n')
    cfg = load_config()
    assert cfg.alpha == 0.01 and cfg.path == str(project / "pyproject.toml")


def test_nothing_found_gives_an_empty_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if find_config() is not None:  # a config above the temporary folder (unusual machine): nothing to test
        pytest.skip(f"a configuration file exists above {tmp_path}")
    assert load_config() == Config()


# ------------------------------------------------------------------ reading
def test_toml_every_kind_of_value(project):
    (project / "biasaudit.toml").write_text(
        'label = "species"\nsensitive = ["size", "color"]\nnon_causal = ["color"]\nfail_on = "high"\n'
        'alpha = 0.01\nrandom_state = 7\nbins = 4\nprobe = false\nbaseline = "ci/base.json"\n'
        'reference_group = {size = "big"}\n'
        '[reference.size]\nbig = 0.25\nsmall = 0.75\n'
        '[[accept]]\nid = "group_attribution:size=small:label=DOG"\nreason = "cats are small"\n')
    cfg = load_config()
    assert cfg.sensitive == ("size", "color") and cfg.non_causal == ("color",)
    assert (cfg.fail_on, cfg.alpha, cfg.random_state, cfg.bins, cfg.probe) == ("high", 0.01, 7, 4, False)
    assert cfg.baseline == str(project / "ci" / "base.json")  # relative to the file, not the cwd
    assert cfg.reference_group == {"size": "big"}
    assert cfg.accept == (Accepted("group_attribution:size=small:label=DOG", "cats are small"),)
    ref = cfg.reference_frame()
    assert ref.to_dict(orient="records") == [{"attribute": "size", "value": "big", "share": 0.25},
                                             {"attribute": "size", "value": "small", "share": 0.75}]
    kw = cfg.audit_kwargs()
    assert kw["random_state"] == 7 and kw["bins"] == 4 and kw["probe"] is False
    assert kw["sensitive"] == ["size", "color"]


def test_setup_cfg_values(project):
    (project / "setup.cfg").write_text(
        "[tool:biasaudit]\nlabel = species\nsensitive = size, color\nalpha = 0.02\nprobe = no\n"
        "reference = ../datasets_ref.csv\nreference_group =\n    size=big\naccept =\n"
        "    overgeneralization:rule:size=small,color=white:label=DOG\n    group_attribution:size=*\n")
    cfg = load_config()
    assert cfg.sensitive == ("size", "color") and cfg.alpha == 0.02 and cfg.probe is False
    assert cfg.reference == str((project / ".." / "datasets_ref.csv").resolve())
    assert cfg.reference_group == {"size": "big"}
    ids = [a.id for a in cfg.accept]
    assert ids == ["overgeneralization:rule:size=small,color=white:label=DOG", "group_attribution:size=*"]
    assert cfg.accept[1].matches("group_attribution:size=small:label=DOG")
    assert not cfg.accept[1].matches("group_attribution:color=white:label=DOG")


def test_wildcard_does_not_treat_brackets_as_a_character_class():
    a = Accepted("group_attribution:weight_kg=[1.9, 3.9)*")
    assert a.matches("group_attribution:weight_kg=[1.9, 3.9):label=DOG")
    assert not a.matches("group_attribution:weight_kg=1:label=DOG")


BAD = [
    ('sensitve = ["size"]\n', "Did you mean 'sensitive'"),
    ('alpha = "0.05"\n', "alpha must be a number"),
    ("alpha = 5\n", "The 'alpha' setting must be a number in [1e-10, 1). Got 5 instead."),
    ("bins = 0\n", "The 'bins' setting must be an integer from 2 to 20. Got 0 instead."),
    ("bins = 1000\n", "The 'bins' setting must be an integer from 2 to 20. Got 1000 instead."),
    ("bins = -3\n", "The 'bins' setting must be an integer from 2 to 20. Got -3 instead."),
    ("max_levels = 0\n", "The 'max_levels' setting must be an integer >= 2. Got 0 instead."),
    ("random_state = -1\n", "The 'random_state' setting must be an integer from 0 to 4294967295. Got -1 instead."),
    ('correction = "bonferroni"\n', "The 'correction' setting must be one of 'bh', 'holm', 'by'."),
    ("[limits]\nline_bytes = 0\n", "The limit 'line_bytes' must be positive."),
    ("[limits]\nline_byte = 10\n", "Unknown limit 'line_byte'. Did you mean 'line_bytes'?"),
    ('[limits]\ndecompression_ratio = "lots"\n', "The limit 'decompression_ratio' must be a number >= 1."),
    ('fail_on = "severe"\n', "fail_on must be one of"),
    ('sensitive = [1, 2]\n', "sensitive must be a list of column names"),
    ('[reference.size]\nbig = 0.3\nsmall = 0.3\n', "shares summing to 1"),
    ('[[accept]]\nreason = "no id"\n', "accept must be a finding id"),
    ('label = "species\n', "not valid TOML"),
]


@pytest.mark.parametrize("text,message", BAD, ids=[b[1] for b in BAD])
def test_bad_config_is_refused(project, text, message):
    (project / "biasaudit.toml").write_text(text)
    with pytest.raises(ConfigError, match=None) as err:
        load_config()
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)


# ------------------------------------------------------------------ the CLI uses it, flags override it
def _json(path):
    return json.loads(path.read_text())


def test_cli_uses_the_config_and_flags_override_it(project):
    (project / "biasaudit.toml").write_text('label = "species"\nsensitive = ["size"]\nfail_on = "high"\n'
                                            'probe = false\n')
    out = project / "out.json"
    r = scan(project / "animals.csv", "--format", "json", "-o", out)
    doc = _json(out)
    assert doc["dataset"]["label"] == "species" and doc["dataset"]["sensitive"] == ["size"]
    # planted: no big cat, so size=small has a far lower DOG rate; computed here without biasaudit
    df = pd.read_csv(project / "animals.csv")
    rate = df.groupby("size")["species"].apply(lambda s: (s == "DOG").mean())
    assert rate["big"] == 1.0 and rate["small"] < 0.4
    assert r.exit_code == 1, r.output  # fail_on = "high" from the file
    assert "probe" not in {f["detector"] for f in doc["findings"]}
    r = scan(project / "animals.csv", "--format", "json", "-o", out, "--fail-on", "never", "-s", "color")
    assert r.exit_code == 0, r.output
    assert _json(out)["dataset"]["sensitive"] == ["color"]


def test_cli_config_option_and_no_config(project):
    (project / "biasaudit.toml").write_text('label = "size"\n')
    other = project / "other.toml"
    other.write_text('label = "species"\n')
    out = project / "out.json"
    assert scan(project / "animals.csv", "--config", other, "--no-probe", "--format", "json", "-o", out).exit_code == 0
    assert _json(out)["dataset"]["label"] == "species"
    assert scan(project / "animals.csv", "--no-probe", "--format", "json", "-o", out).exit_code == 0
    assert _json(out)["dataset"]["label"] == "size"
    assert scan(project / "animals.csv", "--no-config", "--no-probe", "--format", "json", "-o", out).exit_code == 0
    assert _json(out)["dataset"]["label"] == "species"  # inferred: the last column


def test_cli_accepts_findings_from_the_config(project):
    (project / "biasaudit.toml").write_text('label = "species"\nsensitive = ["size"]\nfail_on = "high"\n'
                                            'accept = ["group_attribution:size*"]\n')
    r = scan(project / "animals.csv", "--no-probe", "--format", "json", "-o", project / "o.json")
    failing = [f["id"] for f in _json(project / "o.json")["findings"]
               if f["severity"] in ("critical", "high") and not f["id"].startswith("group_attribution:size")
               and f["explained_by"] is None]
    assert r.exit_code == (1 if failing else 0), (failing, r.output)


def test_bad_config_exits_2_with_one_line(project):
    (project / "biasaudit.toml").write_text('labl = "species"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "biasaudit", "scan", str(DATASETS / "dogs_cats.csv"), "--no-probe"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2
    assert "unknown key 'labl'. Did you mean 'label'?" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_check_reads_a_config(project):
    from biasaudit.integrations.checks import check
    (project / "biasaudit.toml").write_text('label = "species"\nsensitive = ["size"]\nfail_on = "critical"\n'
                                            'accept = ["group_attribution:*"]\n')
    df = pd.read_csv(project / "animals.csv")
    result = check(df, config=True, detectors=["group_attribution"])  # everything critical is accepted
    assert result.dataset["label"] == "species" and result.dataset["sensitive"] == ["size"]
    assert result.at_or_above("critical")


# ------------------------------------------------------------------ one name per setting
def test_old_names_still_work_with_a_deprecation(tmp_path):
    """``random_state`` and ``bins`` in Python, on the command line and in the config file; the old
    ``seed`` / ``n_bins`` / ``--seed`` still work for one release, each with a deprecation."""
    import biasaudit as ba
    from biasaudit.integrations.config import load_config
    df = pd.DataFrame({"g": ["a", "b"] * 60, "x": np.arange(120.0) % 37, "y": [0, 1, 1] * 40})
    new = ba.audit(df, label="y", bins=3, probe=False)
    with pytest.warns(FutureWarning, match="'n_bins' parameter of audit is deprecated.*use 'bins'"):
        old = ba.audit(df, label="y", n_bins=3, probe=False)
    assert old.dataset["bins"]["x"] == new.dataset["bins"]["x"] and len(new.dataset["bins"]["x"]) == 2
    path = tmp_path / "biasaudit.toml"
    path.write_text("seed = 9\n")
    with pytest.warns(FutureWarning, match="key 'seed' is deprecated.*write 'random_state'"):
        assert load_config(path).random_state == 9
    path.write_text("random_state = 9\n")
    assert load_config(path).random_state == 9
    data = tmp_path / "d.csv"
    df.to_csv(data, index=False)
    seeds = []
    for flag in ("--random-state", "--seed"):
        r = CliRunner().invoke(cli, ["scan", str(data), "-l", "y", "--no-probe", "--no-config", "--format", "json",
                                     flag, "11"])
        assert r.exit_code == 0, r.output
        seeds.append(json.loads(r.stdout)["settings"]["random_state"])
        assert ("deprecated" in r.stderr) == (flag == "--seed")
    assert seeds == [11, 11]
    r = CliRunner().invoke(cli, ["scan", str(data), "-l", "y", "--no-probe", "--no-config", "--format", "json",
                                 "--random-state", "7", "--seed", "5"])
    assert r.exit_code == 0 and json.loads(r.stdout)["settings"]["random_state"] == 7  # the new name wins
