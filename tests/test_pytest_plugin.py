"""The pytest plugin, used the way a data team uses it: a test file run by pytest in a subprocess."""
import configparser
import importlib.metadata
import re

import pytest

from conftest import ROOT

pytest_plugins = ["pytester"]


def _plugin_installed() -> bool:
    return any(ep.value == "biasaudit.integrations.pytest_plugin" for ep in importlib.metadata.entry_points(group="pytest11"))


@pytest.fixture
def run(pytester, monkeypatch):
    """Run pytest in a subprocess inside the pytester folder, with biasaudit importable and its plugin on."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)

    def go(*args):
        extra = () if _plugin_installed() else ("-p", "biasaudit.integrations.pytest_plugin")
        return pytester.runpytest_subprocess(*extra, "-p", "no:cacheprovider", *args, timeout=180)
    return go


def test_entry_point_is_declared():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = [ln.strip() for ln in cfg["options.entry_points"]["pytest11"].strip().splitlines()]
    assert "biasaudit = biasaudit.integrations.pytest_plugin" in lines


DATA_TESTS = '''
import pytest
from biasaudit.tools.simulate import generate_dogs_cats


def test_clean_data(biasaudit):
    biasaudit.check(generate_dogs_cats(600, seed=0, planted=False), label="species", fail_on="high",
                    detectors=["group_attribution"])


def test_planted_data(biasaudit):
    biasaudit.check(generate_dogs_cats(600, seed=0, planted=True), label="species", fail_on="high",
                    detectors=["group_attribution"])


@pytest.mark.biasaudit(label="species")
def test_marker_sets_the_label(biasaudit):
    biasaudit.assert_parity(generate_dogs_cats(600, seed=0, planted=True), attribute="size", positive="DOG")


@pytest.mark.biasaudit(label="species", fail_on="never")
def test_marker_sets_fail_on(biasaudit):
    result = biasaudit.check(generate_dogs_cats(600, seed=0, planted=True), detectors=["group_attribution"])
    assert result.at_or_above("high")
'''


CONFIG_TESTS = '''
from biasaudit.tools.simulate import generate_dogs_cats


def test_accepted_by_the_config(biasaudit):
    df = generate_dogs_cats(600, seed=0, planted=True)
    result = biasaudit.check(df, detectors=["group_attribution"])  # label and accept from biasaudit.toml
    assert result.dataset["label"] == "species" and result.at_or_above("high")


def test_call_arguments_win(biasaudit):
    df = generate_dogs_cats(600, seed=0, planted=True)
    biasaudit.check(df, detectors=["group_attribution"], accept=[], config=None)
'''


def test_fixture_marker_and_config_in_a_subprocess(run, pytester):
    pytester.makepyfile(test_data=DATA_TESTS)
    sub = pytester.mkpydir("team")  # a folder with its own configuration file
    (sub / "biasaudit.toml").write_text('label = "species"\nfail_on = "high"\naccept = ["group_attribution:*"]\n')
    (sub / "test_cfg.py").write_text(CONFIG_TESTS)
    r = run("-q", "--strict-markers")  # strict: the biasaudit marker is registered by the plugin
    r.assert_outcomes(passed=3, failed=3)
    out = r.stdout.str()
    failed = set(re.findall(r"^FAILED (\S+)", out, re.M))
    assert failed == {"test_data.py::test_planted_data", "test_data.py::test_marker_sets_the_label",
                      "team/test_cfg.py::test_call_arguments_win"}
    assert re.search(r"E\s+biasaudit\.errors\.BiasCheckError: \d+ finding\(s\) at or above 'high'", out)
    # the findings are printed as a table: severity, id, then the sentence
    assert re.search(r"E\s+critical\s+group_attribution:size=small:label=DOG", out)
    assert re.search(r"E\s+biasaudit\.errors\.BiasCheckError: Disparate impact below 0.8 established for 1 group", out)
    # biasaudit's own frames are hidden: the traceback ends in the test
    assert "checks.py" not in out and "pytest_plugin.py" not in out
