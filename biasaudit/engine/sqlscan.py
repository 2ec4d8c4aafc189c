"""The engine over a database table or query: the database summarizes, samples and counts.

:class:`SqlScan` is the engine's :class:`~biasaudit.engine.scan.Scan` with the two passes that read
the data done by the database; everything between and after them (role resolution, planning,
the count store, detectors, families, reports) is the one path every input takes:

* **pass one** (:meth:`SqlScan.summarize`): one :class:`~biasaudit.engine.summaries.ColumnState`
  per column, as pass one over the rows would leave it, from aggregate queries, and the seeded row
  sample drawn in the database (:mod:`biasaudit.engine.sqlsummary`);
* **pass two** (:meth:`SqlScan.count`): the covering count tables the planner asks for, as
  ``GROUP BY`` queries (:mod:`biasaudit.engine.sqlcount`); an unplanned table is one more query.

Only counts cross the wire for these.  Whole-row hash counts (duplicate rows, conflicting labels:
the ``reporting`` and ``label_quality`` detectors) need every row's values: the first such pass
reads the relation once through a server-side cursor, ``SQL_FETCH_ROWS`` rows at a time, coded
with the summaries' dictionaries and written to a temporary folder as the file engine stores its
codes (:class:`~biasaudit.engine.spill.Spill`); later passes read that folder, not the database.
The client's memory stays flat in the number of rows.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .scan import DEFAULT_SAMPLE_ROWS, Scan
from .sql import Relation, open_relation
from .sqlcount import count_tables
from .sqlsummary import GROUPING_SETS_DIALECTS, summarize
from .store import cover, plan_tables
from .summaries import value_hashes

__all__ = ["SqlScan", "scan_sql", "SQL_TABLE_CELLS", "SQL_FETCH_ROWS"]

#: Cell budget of one count table computed by the database: every non-empty cell is one result row, so
#: narrower tables than the file engine's (``store.MAX_TABLE_CELLS``) keep the transfer and the client small.
SQL_TABLE_CELLS = 1 << 12
#: Rows fetched at a time by the passes that read whole rows (row hashes).
SQL_FETCH_ROWS = 1 << 16


class SqlScan(Scan):
    """A :class:`~biasaudit.engine.scan.Scan` whose passes run in a database (see the module docstring)."""

    rel: Relation | None = None
    present = None

    def summarize(self, rel: Relation, label: str, progress=None) -> None:
        """Pass one in the database: column states, the row count and the seeded row sample."""
        self.rel, self.dialect, self.source = rel, rel.dialect, None
        t0 = time.perf_counter()
        if progress is not None:
            progress("shape", len(self.columns), self.sample_rows)
            progress("reading", 0, 1)
        states, sample, n_rows, self.present = summarize(rel, label, sample_rows=self.sample_rows,
                                                         random_state=self.random_state)
        self.set_states(states, sample.ordered(), n_rows)
        self.timings["pass1_s"] = round(time.perf_counter() - t0, 3)
        if progress is not None:
            progress("reading", 1, 1)

    def count(self, extra=(), progress=None, hashes: tuple = ()) -> None:
        """Pass two: the planned tables counted by the database; row hash counts (when asked) by reading
        the rows once through the client."""
        from .counting import CountTask, Totals
        t0 = time.perf_counter()
        self.tables = cover(plan_tables(self.roles, extra), self.sizes, list(self.preps) + list(self.indicators),
                            max_cells=SQL_TABLE_CELLS)
        if progress is not None:
            progress("counting", 0, 1)
        part = count_tables(self, self.rel, self.present, self.tables)
        if hashes:
            task = CountTask(self, [], hashes)
            cols = list(dict.fromkeys([self.roles.label] + ([self.roles.weight] if self.roles.weight else [])
                                      + list(self.roles.ids)  # named in the duplicate rows shown
                                      + (self.dup_columns() if "duplicates" in hashes else [])
                                      + (self.vector_columns() if "conflicts" in hashes else [])))
            rows = self.map_stored(task, cols, Totals(task.keyers, self.roles.weight is not None)).result()
            part.update({k: rows[k] for k in hashes})
        self.finish_count(part)
        self.timings["pass2_s"] = round(time.perf_counter() - t0, 3)
        if progress is not None:
            progress("counting", 1, 1)

    def _recount(self, columns: tuple) -> np.ndarray:
        """An unplanned table: one more query."""
        return count_tables(self, self.rel, self.present, [tuple(columns)])["tables"][tuple(columns)]

    def stored_chunks(self, columns):
        """(row offset, rows, {column: stored codes}) for every ``SQL_FETCH_ROWS`` rows of the relation, in the
        order the database returns them (PostgreSQL: synchronized scans off, so every pass starts at row 0);
        from the spilled codes of the first such pass when it read these columns."""
        columns = list(columns)
        if self.spill is not None and all(c in self.spill.files for c in columns):
            offset = 0
            for m, raw in self.spill.read_chunks(columns, SQL_FETCH_ROWS):
                yield offset, m, raw
                offset += m
            return
        from .spill import Spill
        spill = Spill() if self.spill is None else None
        try:
            for offset, m, stored in self._fetch(columns):
                if spill is not None:
                    for c, arr in stored.items():
                        spill.write(c, arr)
                    spill.chunks.append(m)
                yield offset, m, stored
        except BaseException:
            if spill is not None:
                spill.close()
            raise
        if spill is not None:
            self.spill = spill

    def _fetch(self, columns):
        import sqlalchemy as sa
        rel = self.rel
        stmt = sa.select(*[rel.col(c) for c in columns]).select_from(rel.rel)
        if rel.dialect == "postgresql":
            rel.execute(sa.text("SET synchronize_seqscans = off"))
            stmt = stmt.execution_options(stream_results=True, yield_per=SQL_FETCH_ROWS)
        result = rel.execute(stmt)
        offset = 0
        while rows := result.fetchmany(SQL_FETCH_ROWS):
            frame = pd.DataFrame.from_records(rows, columns=range(len(columns)), coerce_float=False)
            yield offset, len(rows), {c: self._stored(c, frame[j]) for j, c in enumerate(columns)}
            offset += len(rows)

    def _stored(self, col: str, values: pd.Series) -> np.ndarray:
        """One fetched column as the engine stores it (dictionary codes, numbers or value hashes)."""
        st = self.states[col]
        if st.mode == "num":
            return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
        local = [u.item() if isinstance(u, np.generic) else u for u in list(uniques)]
        codes = codes.astype(np.int64)
        if st.mode == "dict":
            return st.global_codes(local, codes)
        return np.append(value_hashes(st, local, st.local_missing(local)), np.uint64(0))[codes]

    def map_stored(self, fn, columns, acc=None, progress=None):
        out = [] if acc is None else acc
        for o, m, s in self.stored_chunks(columns):
            r = fn(o, m, s)
            out.append(r) if acc is None else acc.add(r)
        return out

    def engine_section(self) -> dict:
        """The report's engine section: what the database computed, and how the sample was drawn."""
        from .describe import engine_section
        out = engine_section(self, "sql")
        how = ("one GROUP BY GROUPING SETS query" if self.dialect in GROUPING_SETS_DIALECTS
               else "one GROUP BY query per table")
        key = ("md5 of the seed and the row's text" if self.dialect in GROUPING_SETS_DIALECTS
               else "a hash of the seed and the row number")
        hashed = [k for k in ("duplicates", "conflicts") if k in self.row_counts]
        out["text"][0] = (f"SQL engine: {self.description}, {self.n_rows:,} rows; column summaries from aggregate "
                          f"queries, {len(self.tables)} count table(s) computed in the database by {how}"
                          + (f"; rows read once through the client for the row hash counts ({', '.join(hashed)})"
                             if hashed else "; only counts were transferred") + ".")
        if not self.sample_complete and len(self.sample.rows):
            out["text"].append(f"Row sample: the {len(self.sample.rows):,} rows with the smallest key ({key}; "
                               f"seed {self.random_state}), drawn in the database.")
        out["chunk_rows"] = None
        out["dialect"] = self.dialect
        return out

    def close(self) -> None:
        super().close()
        if self.rel is not None:
            self.rel.close()
            self.rel = None


def scan_sql(data, *, table: str | None = None, query: str | None = None, sample_rows: int | None = None,
             progress=None, random_state: int = 0, **roles_kw) -> SqlScan:
    """Pass one and the roles of ``table`` or ``query`` of the database ``data`` (call :meth:`SqlScan.count`
    for pass two, then :meth:`SqlScan.close`).

    Parameters
    ----------
    data : str, path-like, sqlalchemy Engine or Connection
        ``postgresql://user@host/db``, ``sqlite:///file.db``, ``duckdb:///file.duckdb``, a
        ``.sqlite``/``.db``/``.duckdb`` file, or an engine / connection (left open).
    table, query : str, optional
        What to audit (a table may be omitted when the database holds exactly one).
    sample_rows : int, optional
        Rows of the seeded sample drawn in the database for the detectors that read rows.
    **roles_kw
        label, sensitive, weight, ids, attributes, exclude, multi, positive, n_bins, bins,
        max_levels, outputs: as for :func:`biasaudit.audit`.
    """
    sample_rows = DEFAULT_SAMPLE_ROWS if sample_rows is None else int(min(sample_rows, 2**62))
    rel = open_relation(data, table=table, query=query)
    sc = SqlScan(rel.columns, rel.description, chunk_rows=0, sample_rows=sample_rows, random_state=random_state)
    try:
        sc.summarize(rel, sc.label_of(roles_kw.get("label")), progress)
        sc.resolve(**roles_kw)
    except BaseException:
        rel.close()
        raise
    return sc
