"""Checks for pipelines and test suites (kept here for ``from biasaudit.checks import ...``).

The implementation lives in :mod:`biasaudit.integrations.checks`.
"""
from .integrations.checks import *  # noqa: F401,F403
from .integrations.checks import __all__  # noqa: F401
