"""README's quickstart and .ci/run must stay true to each other."""
import re

from conftest import ROOT


def _quickstart():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Quickstart\s+```\n(.*?)```", text, re.S).group(1)
    return [ln.strip() for ln in block.splitlines() if ln.strip()]


def test_quickstart_has_two_commands():
    cmds = _quickstart()
    assert len(cmds) == 2
    assert "biasaudit scan datasets/" in cmds[0]
    assert "pytest" in cmds[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert _quickstart()[1] in ci.splitlines()


def test_quickstart_dataset_exists():
    path = re.search(r"(datasets/\S+)", _quickstart()[0]).group(1)
    assert (ROOT / path).exists()
