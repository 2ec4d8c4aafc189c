"""What every detector receives: the count store (or the row sample), the roles, the settings and the inputs."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .counts import CodedTable, CountTable
from .resolver import Roles
from ..settings import Settings

__all__ = ["AuditContext"]


@dataclass(frozen=True)
class AuditContext:
    """Inputs of one audit, shared read-only by the detectors.

    Attributes
    ----------
    table : CountStore or CodedTable
        Count tables: the engine's count store for detectors that read counts, a coded table of the
        row sample for those that read rows.  Read with ``table.count(*columns)``.
    roles : Roles
    settings : Settings
    frame : pandas.DataFrame
        The prepared rows of the sample (audited attributes as categories), for detectors that read rows.
    raw : pandas.DataFrame
        The sample's rows as loaded (never modified).
    options : mapping
        Detector inputs such as ``reference`` (a DataFrame of attribute, value, share),
        ``compare`` (a second sample) and ``reference_group``.
    sample_source : callable, optional
        Returns the context of the seeded row sample (built on first use); read through
        :attr:`sample` by a count reader with one step that needs rows (the proxies' probe).
    """

    table: CodedTable
    roles: Roles
    settings: Settings
    frame: pd.DataFrame
    raw: pd.DataFrame
    options: Mapping[str, Any] = field(default_factory=dict)
    sample_source: Any = None

    @property
    def sample(self) -> CodedTable | None:
        """The seeded row sample as a coded table (None when the engine holds no rows)."""
        return None if self.sample_source is None else self.sample_source().table

    @property
    def label(self) -> str:
        return self.roles.label

    def label_table(self, *attributes: str) -> CountTable:
        """Counts over ``attributes`` x label (label last)."""
        return self.table.count(*attributes, self.roles.label)

    @property
    def label_counts(self) -> np.ndarray:
        return self.table.count(self.roles.label).counts

    def label_index(self, value: str) -> int:
        return self.table.levels[self.roles.label].index(value)

    def rng(self, offset: int = 0) -> np.random.Generator:
        return np.random.default_rng(self.settings.random_state + offset)
