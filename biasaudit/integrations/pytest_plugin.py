"""pytest plugin: a ``biasaudit`` fixture and a ``biasaudit`` marker for data tests.

Registered through the ``pytest11`` entry point, so installing biasaudit is enough::

    def test_training_data(biasaudit):
        biasaudit.check(load_training_data(), label="y", fail_on="high")

    @pytest.mark.biasaudit(label="species", fail_on="high")
    def test_animals(biasaudit):
        biasaudit.check(load_animals())            # label and fail_on from the marker
        biasaudit.assert_no_coverage_gaps(load_animals(), attributes=["size", "color"])

The fixture's methods are those of :mod:`biasaudit.checks` (``check``, ``assert_no_coverage_gaps``,
``assert_representation``, ``assert_parity``) plus ``audit``.  Their defaults come, from weakest to
strongest, from the project's configuration file (``biasaudit.toml`` or ``[tool:biasaudit]``, found
from the test file's folder upward; ``check`` only), the ``biasaudit`` marker, then the call's own
arguments.  A failing check raises :class:`~biasaudit.BiasCheckError`, whose message is a table of
the findings that failed; the plugin hides biasaudit's own frames from the traceback.

Without a data test the plugin costs nothing: biasaudit (and pandas) are imported on first use.
"""
from __future__ import annotations

import inspect
from typing import Any

import pytest

__all__ = ["BiasAuditFixture", "biasaudit"]

MARKER_HELP = ("biasaudit(**defaults): default arguments (label=..., fail_on=..., sensitive=...) for the "
               "biasaudit fixture's checks in this test")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)


#: audit() settings a marker may set for every check (the focused assertions fix the others themselves).
_SHARED_SETTINGS = frozenset({"alpha", "correction", "random_state", "n_bins", "max_levels", "k_max", "weight",
                              "ids", "multi"})


def _accepts(fn, name: str) -> bool:
    params = inspect.signature(fn).parameters
    if name in params:
        return params[name].kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return name in _SHARED_SETTINGS and any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


class BiasAuditFixture:
    """What the ``biasaudit`` fixture returns: the checks, with this test's defaults applied."""

    def __init__(self, defaults: dict | None = None, config: Any = None) -> None:
        self.defaults = dict(defaults or {})
        self.config = config

    def _call(self, name: str, data, args: tuple, kwargs: dict):
        __tracebackhide__ = True
        from . import checks
        fn = getattr(checks, name)
        if name == "check":  # check() hands every other keyword to audit()
            from ..audit.run import audit
            merged = {k: v for k, v in self.defaults.items() if _accepts(fn, k) or _accepts(audit, k)}
        else:
            merged = {k: v for k, v in self.defaults.items() if _accepts(fn, k)}
        merged.update(kwargs)
        merged.setdefault("_stacklevel", 4)  # warnings point at the test: fixture method -> _call -> check
        return fn(data, *args, **merged)

    def check(self, data, **kwargs):
        """:func:`biasaudit.checks.check` with the configuration, marker and call arguments."""
        __tracebackhide__ = True
        kwargs.setdefault("config", self.config)
        return self._call("check", data, (), kwargs)

    def assert_no_coverage_gaps(self, data, **kwargs):
        """:func:`biasaudit.checks.assert_no_coverage_gaps`."""
        __tracebackhide__ = True
        return self._call("assert_no_coverage_gaps", data, (), kwargs)

    def assert_representation(self, data, attribute: str, **kwargs):
        """:func:`biasaudit.checks.assert_representation`."""
        __tracebackhide__ = True
        return self._call("assert_representation", data, (attribute,), kwargs)

    def assert_parity(self, data, **kwargs):
        """:func:`biasaudit.checks.assert_parity`."""
        __tracebackhide__ = True
        return self._call("assert_parity", data, (), kwargs)

    def audit(self, data, **kwargs):
        """:func:`biasaudit.audit` (no check): the result to assert on yourself."""
        from ..audit.run import audit
        merged = {k: v for k, v in self.defaults.items() if _accepts(audit, k)}
        merged.update(kwargs)
        return audit(data, **merged)


@pytest.fixture
def biasaudit(request) -> BiasAuditFixture:
    """Bias checks for a data test; defaults from the ``biasaudit`` marker and the configuration file
    nearest to the test file."""
    defaults: dict = {}
    for mark in reversed(list(request.node.iter_markers("biasaudit"))):  # closest marker wins
        if mark.args:
            raise pytest.UsageError("@pytest.mark.biasaudit takes keyword arguments only, e.g. "
                                    "@pytest.mark.biasaudit(label='y', fail_on='high').")
        defaults.update(mark.kwargs)
    from .config import find_config, load_config
    found = find_config(request.path.parent)
    config = load_config(found) if found is not None else None
    return BiasAuditFixture(defaults, config)


def pytest_report_header(config) -> str | None:
    from importlib.metadata import PackageNotFoundError, version
    try:
        v = version("biasaudit")
    except PackageNotFoundError:
        return None
    return f"biasaudit: {v}"
