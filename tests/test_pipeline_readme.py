"""Every example of the README's "Use it in a pipeline" section, run in document order in a scratch
folder holding a copy of datasets/: Python blocks are executed, the pytest file is run by pytest in a
subprocess, the configuration files are written and read, and each command line is invoked with its
exit code checked against the "# exit N" comment beside it."""
import importlib.metadata
import re
import shlex
import shutil
import warnings

import pytest
from click.testing import CliRunner

import biasaudit as ba
from biasaudit.integrations.cli import cli
from biasaudit.integrations.config import load_config
from conftest import DATASETS, ROOT

pytest_plugins = ["pytester"]

SECTION = "## Use it in a pipeline"


def section_blocks():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    body = text[start:end if end != -1 else len(text)]
    return re.findall(r"```(\w+)\n(.*?)```", body, re.S)


def test_section_has_every_kind_of_example():
    kinds = [k for k, _ in section_blocks()]
    assert kinds.count("python") >= 3 and {"toml", "ini", "sh"} <= set(kinds)


@pytest.fixture
def workspace(pytester, monkeypatch):
    """pytester's folder (the working directory of the test) with a copy of three datasets."""
    (pytester.path / "datasets").mkdir()
    for name in ("dogs_cats.csv", "dogs_cats_large.csv", "dogs_cats_reference.csv"):
        shutil.copy(DATASETS / name, pytester.path / "datasets" / name)
    monkeypatch.chdir(pytester.path)
    return pytester.path


def _run_pytest_file(pytester, monkeypatch, name: str, code: str):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    (pytester.path / name).write_text(code)
    installed = any(ep.value == "biasaudit.integrations.pytest_plugin"
                    for ep in importlib.metadata.entry_points(group="pytest11"))
    extra = () if installed else ("-p", "biasaudit.integrations.pytest_plugin")
    r = pytester.runpytest_subprocess(*extra, "-p", "no:cacheprovider", "-q", "-W", "always", timeout=180)
    r.assert_outcomes(passed=code.count("\ndef test_"))
    out = r.stdout.str()
    # the parity check warns, and the warning points at the line of the test that made the call
    assert re.search(rf"{name}:\d+: BiasAuditWarning: 1 group\(s\) of size .* too few to tell", out)


def _run_commands(block: str) -> list:
    ran = []
    for line in block.strip().splitlines():
        command, _, comment = line.partition("  #")
        expected = re.search(r"exit (\d)", comment)
        args = shlex.split(command)
        assert args[0] == "biasaudit" and expected, line
        r = CliRunner().invoke(cli, args[1:])
        assert r.exit_code == int(expected.group(1)), (line, r.stdout[-2000:], r.stderr[-2000:])
        ran.append((args, r))
    return ran


def test_every_example_runs(workspace, pytester, monkeypatch, capsys):
    namespace: dict = {}
    commands = []
    for kind, code in section_blocks():
        first = code.splitlines()[0]
        if kind == "python" and re.match(r"# test_\w+\.py$", first):
            _run_pytest_file(pytester, monkeypatch, first[2:], code)
        elif kind == "python":
            with warnings.catch_warnings(record=True) as record:
                warnings.simplefilter("always")
                exec(compile(code, "README.md", "exec"), namespace)
            namespace.setdefault("_warnings", []).extend(record)
        elif kind == "toml":
            assert first == "# biasaudit.toml"
            (workspace / "biasaudit.toml").write_text(code)
            assert load_config().label == "species"
        elif kind == "ini":
            assert first == "# setup.cfg"
            (workspace / "ini").mkdir()
            (workspace / "ini" / "setup.cfg").write_text(code)
            toml = load_config(workspace / "biasaudit.toml")
            ini = load_config(workspace / "ini" / "setup.cfg")
            assert (ini.label, ini.sensitive, ini.fail_on) == (toml.label, toml.sensitive, toml.fail_on)
            assert [a.id for a in ini.accept] == [a.id for a in toml.accept]
        elif kind == "sh":
            commands += _run_commands(code)
        else:
            pytest.fail(f"no runner for a {kind} block")

    # what the Python examples promised
    assert isinstance(namespace["result"], ba.AuditResult)
    assert namespace["failures"]["severity"].eq("critical").all() and len(namespace["failures"]) > 0
    printed = capsys.readouterr().out
    assert "coverage gap(s) at or above 'low'" in printed
    assert "overgeneralization:rule:size=small,color=white:label=DOG" in printed
    assert namespace["training"].shape == (2000, 7)
    assert any(issubclass(w.category, ba.BiasAuditWarning) for w in namespace["_warnings"])
    text = namespace["changes"].render_text()
    assert "NEW GAPS" in text and "overgeneralization:rule:size=small,color=black:label=DOG" in text
    # what the command lines promised
    by_first = {" ".join(a[1:3]): r for a, r in commands}
    assert "new       [critical] overgeneralization:rule:size=small,color=black:label=DOG" in \
        by_first["scan dogs_cats_v2.csv"].stderr
    assert (workspace / "reports" / "junit.xml").exists() and (workspace / "reports" / "biasaudit.sarif").exists()
    claim = by_first["claim datasets/dogs_cats.csv"].stdout
    assert "[not established] never species=DOG where size=small, color=white" in claim
    assert "[contradicted] never species=DOG where color=white" in claim and "Ex06" in claim
