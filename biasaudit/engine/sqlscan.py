"""The SQL engine: audit a database table or query with the counting done by the database.

:func:`scan_sql` runs the streaming engine's two passes as queries (:mod:`.sqlsummary` for the
column summaries and the seeded row sample, :mod:`.sqlcount` for the count tables) and hands the
results to :class:`~biasaudit.engine.scan.StreamScan`, which decides the roles and plans the
tables exactly as for a file.  The narrow adapter between the database and the engine is:

* **summaries in**: ``summarize(relation, label, ...) -> (states, sample, n_rows, present)``,
  one :class:`~biasaudit.engine.summaries.ColumnState` per column (as pass one over the rows
  would leave it) and the raw row sample;
* **count tables out**: ``count_tables(scan, relation, present) -> (arrays, total)`` for the
  column tuples the planner asks for (``scan.tables``, with ``scan.preps``/``indicators``);
* **sample out**: the row sample, coded with the summaries' dictionaries, for detectors that
  need rows.

Rows never reach the client beyond the sample; the client's memory does not grow with the
number of rows.
"""
from __future__ import annotations

import time

from .scan import DEFAULT_SAMPLE_ROWS, StreamScan
from .sql import Relation, open_relation
from .sqlcount import count_tables
from .sqlsummary import GROUPING_SETS_DIALECTS, summarize
from .store import cover, plan_tables

__all__ = ["SqlScan", "scan_sql", "SQL_TABLE_CELLS"]

#: Cell budget of one count table computed by the database: every non-empty cell is one result row, so
#: narrower tables than the file engine's (``store.MAX_TABLE_CELLS``) keep the transfer and the client small.
SQL_TABLE_CELLS = 1 << 12


class SqlScan(StreamScan):
    """A :class:`StreamScan` whose passes ran in a database (see the module docstring)."""

    relation_source: str = ""
    dialect: str = ""

    @classmethod
    def from_relation(cls, rel: Relation, *, sample_rows: int = DEFAULT_SAMPLE_ROWS, random_state: int = 0,
                      k_max=None, progress=None, **roles_kw) -> "SqlScan":
        self = cls(rel.columns, rel.description, chunk_rows=0, sample_rows=sample_rows, random_state=random_state)
        self.relation_source, self.dialect = rel.description, rel.dialect
        label = self.label_of(roles_kw.get("label"))
        t0 = time.perf_counter()
        if progress is not None:
            progress("summaries (in the database)", 0, 2)
        states, sample, n_rows, present = summarize(rel, label, sample_rows=self.sample_rows,
                                                    random_state=self.random_state)
        self.finish_summary(states, sample, n_rows, k_max=k_max, **roles_kw)
        t1 = time.perf_counter()
        if progress is not None:
            progress("counting (in the database)", 1, 2)
        out, total = count_tables(self, rel, present)
        self.set_counts(out, total)
        self.timings = {"pass1_s": round(t1 - t0, 3), "pass2_s": round(time.perf_counter() - t1, 3)}
        return self

    def finish_summary(self, states, sample, n_rows, *, k_max=None, **roles_kw) -> None:
        """As :meth:`StreamScan.finish_summary`, with count tables of at most ``SQL_TABLE_CELLS`` cells."""
        super().finish_summary(states, sample, n_rows, k_max=k_max, **roles_kw)
        needed = plan_tables(self.roles, self.levels, self._observed(), self.n_kept, k_max) + self._missing_sets()
        self.tables = cover(needed, self.sizes, list(self.preps) + list(self.indicators), max_cells=SQL_TABLE_CELLS)

    def dataset_info(self, source: str) -> dict:
        """As :meth:`StreamScan.dataset_info`, with the source named by its masked URL."""
        return super().dataset_info(self.relation_source)

    def _approximate_note(self) -> str:
        return (f"computed on a seeded sample of {len(self.sample.rows):,} of {self.n_rows:,} rows drawn in the "
                f"database (SQL engine): approximate")

    def section(self, engine: str = "sql") -> dict:
        out = super().section("sql")
        how = ("one GROUP BY GROUPING SETS query" if self.dialect in GROUPING_SETS_DIALECTS
               else "one GROUP BY query per table")
        key = ("md5 of the seed and the row's text" if self.dialect in GROUPING_SETS_DIALECTS
               else "a hash of the seed and the row number")
        out["text"][0] = (f"SQL engine: {self.description}, {self.n_rows:,} rows; column summaries from aggregate "
                          f"queries, {len(self.tables)} count table(s) computed in the database by {how}; "
                          f"only counts were transferred.")
        if not self.sample_complete and len(self.sample.rows):
            out["text"].append(f"Row sample: the {len(self.sample.rows):,} rows with the smallest key ({key}; "
                               f"seed {self.random_state}), drawn in the database.")
        out["chunk_rows"] = None
        out["dialect"] = self.dialect
        return out


def scan_sql(data, *, table: str | None = None, query: str | None = None, sample_rows: int | None = None,
             progress=None, random_state: int = 0, k_max=None, **roles_kw) -> SqlScan:
    """Both passes of the SQL engine over ``table`` or ``query`` of the database ``data``.

    Parameters
    ----------
    data : str, path-like, sqlalchemy Engine or Connection
        ``postgresql://user@host/db``, ``sqlite:///file.db``, ``duckdb:///file.duckdb``, a
        ``.sqlite``/``.db``/``.duckdb`` file, or an engine / connection (left open).
    table, query : str, optional
        What to audit (a table may be omitted when the database holds exactly one).
    sample_rows : int, optional
        Rows of the seeded sample drawn in the database for the detectors that need rows.
    **roles_kw
        label, sensitive, weight, ids, attributes, multi, positive, n_bins, max_levels: as for
        :func:`biasaudit.audit`.
    """
    sample_rows = DEFAULT_SAMPLE_ROWS if sample_rows is None else int(sample_rows)
    rel = open_relation(data, table=table, query=query)
    try:
        return SqlScan.from_relation(rel, sample_rows=sample_rows, random_state=random_state, k_max=k_max,
                                     progress=progress, **roles_kw)
    finally:
        rel.close()
