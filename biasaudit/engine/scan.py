"""Streaming scan: audit tables larger than memory, chunk by chunk, with the in-memory results.

Two passes over the data, never the whole table in memory:

1. **Summary** (reads the file once): every column is dictionary-encoded chunk by chunk into one
   global dictionary (codes in order of first appearance; see :mod:`biasaudit._colsummary`),
   with counts of each value; numbers keep exact value counts (exact quantile bins) up to
   ``NUM_EXACT_CAP`` distinct values.  The compact codes are spilled to a temporary folder, and a
   seeded uniform sample of ``sample_rows`` rows is kept (bottom-k of one uniform key per row,
   so the sample does not depend on the chunk size).  Roles are then decided from these
   summaries exactly as :func:`biasaudit.roles.resolve` decides them on the rows.
2. **Counting** (reads the spilled codes, not the file): each chunk's codes become the
   prepared codes and are added into a few covering count tables (:mod:`biasaudit.countstore`).

Detectors read :class:`~biasaudit.countstore.CountStore` exactly as they read the in-memory
:class:`~biasaudit.counts.CodedTable`.  A detector that needs rows (the probe, label quality, the
coverage scan's row signatures and folding) raises :class:`~biasaudit.countstore.RowAccessError`
and is run again on the row sample; its findings are then exact when the sample holds every
row, and approximate (marked in ``details["approximate"]``) otherwise.  Reporting's missing-value
tests are counted from hidden indicator columns planned with the tables (exact at any size,
:mod:`biasaudit._streamdetect`); its duplicate rows come from the sample.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .summaries import NULL16, ColumnState
from .coltypes import typed_column
from .sources import (Sample, Source, Spill, chunks_of, frame_kinds, open_source, prefetch, sample_keys,
                        stream_format)
from .summaryroles import infer_label, missing_indicator, resolve_summary
from .store import (CountStore, RowAccessError, RowGuard, count_chunk, cover, observed_levels,
                         plan_tables)

__all__ = ["StreamScan", "scan", "engine_scan", "choose_engine", "chunks_of", "DEFAULT_CHUNK_ROWS", "DEFAULT_SAMPLE_ROWS",
           "STREAM_MEMORY_SHARE", "ENGINES", "ChunkCounter", "frame_kinds"]

ENGINES = ("auto", "memory", "stream", "dask", "sql")
#: Rows per chunk when none is given.
DEFAULT_CHUNK_ROWS = 1 << 20
#: Rows of the seeded sample the row-level detectors run on.
DEFAULT_SAMPLE_ROWS = 200_000
#: ``engine="auto"`` streams files larger than this share of the available memory.
STREAM_MEMORY_SHARE = 0.25


# ----------------------------------------------------------------------------- engine choice
def available_memory() -> int:
    """Bytes of MemAvailable (``/proc/meminfo``; psutil or sysconf elsewhere)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil
        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def _is_dask(data) -> bool:
    mod = type(data).__module__ or ""
    return mod.startswith("dask") and hasattr(data, "npartitions")


#: Files larger than this are streamed even when they would fit in memory: the row-level steps of
#: the in-memory engine (folding by stratified tests, duplicates) grow with n, the counts do not.
STREAM_MIN_BYTES = 256 * 2**20


def choose_engine(data, engine: str = "auto") -> str:
    """The engine an audit of ``data`` uses.

    ``"auto"``: ``"dask"`` for a dask DataFrame; ``"stream"`` for a CSV/TSV/Parquet file larger
    than ``STREAM_MEMORY_SHARE`` of the available memory or than ``STREAM_MIN_BYTES``; ``"memory"``
    otherwise.
    """
    if engine not in ENGINES:
        raise ValueError(f"The 'engine' parameter of audit must be one of {', '.join(ENGINES)}. Got {engine!r} "
                         f"instead.")
    from .sql import is_sql_source
    if is_sql_source(data):  # a database URL or file, or a SQLAlchemy engine: counted by the database
        if engine in ("auto", "sql"):
            return "sql"
        raise ValueError(f"A database is audited with engine='sql' (or 'auto'). Got {engine!r}.")
    if engine == "sql":
        raise ValueError("engine='sql' reads a database URL, a .sqlite/.db/.duckdb file or a SQLAlchemy engine.")
    if _is_dask(data):
        if engine in ("auto", "dask"):
            return "dask"
        raise ValueError(f"A dask DataFrame is audited with engine='dask' (or 'auto'). Got {engine!r}.")
    if engine != "auto":
        return engine
    if isinstance(data, (str, os.PathLike)):
        path = Path(os.fspath(data))
        if path.is_file() and stream_format(path) is not None:
            size = path.stat().st_size
            big = size > STREAM_MEMORY_SHARE * available_memory() or size > STREAM_MIN_BYTES
            return "stream" if big else "memory"
    return "memory"


@dataclass
class ChunkCounter:
    """Turns a chunk of raw codes / numbers (by source column) into counts of the planned tables."""

    preps: dict
    sizes: dict
    tables: list
    label: str
    weight: str | None = None
    weight_table: np.ndarray | None = None

    def count(self, raw: dict, out: dict | None = None) -> tuple[dict, float]:
        codes = {p: prep.encode(raw[prep.source]) for p, prep in self.preps.items()}
        w = None
        if self.weight:
            r = raw[self.weight]
            w = self.weight_table[r] if self.weight_table is not None else np.asarray(r, dtype=float)
        keep = codes[self.label] >= 0
        if not keep.all():
            codes = {p: c[keep] for p, c in codes.items()}
            w = w[keep] if w is not None else None
        out = count_chunk(codes, self.sizes, self.tables, w, out)
        return out, (float(w.sum()) if w is not None else int(keep.sum()))

    @property
    def sources(self) -> list:
        """The source columns a chunk must carry."""
        return list(dict.fromkeys([p.source for p in self.preps.values()] + ([self.weight] if self.weight else [])))


def _coerce(inp: tuple, st: ColumnState) -> tuple:
    """Make a chunk's column match the state's mode (a partition may type an all-missing column differently)."""
    if inp[0] == "num" and st.mode != "num":
        x = inp[1]
        if np.isnan(x).all():
            return ("dict", [], np.full(len(x), -1, dtype=np.int64))
        codes, uniques = pd.factorize(pd.Series(x), use_na_sentinel=True)
        return ("dict", [float(u) for u in uniques], codes.astype(np.int64))
    if inp[0] == "dict" and st.mode == "num" and st.source != "text":
        local, codes = inp[1], inp[2]
        vals = pd.to_numeric(pd.Series(list(local) + [None], dtype=object), errors="coerce").to_numpy(dtype=float)
        return ("num", vals[codes])
    return inp


class StreamScan:
    """The passes of a streaming scan and everything the audit needs from them.

    Build it with :func:`scan` (files, DataFrames) or :func:`biasaudit.distributed.scan_dask`.
    Attributes: ``roles``, ``store`` (the :class:`CountStore`), ``preps``, ``typed``, ``n_rows``
    (rows read), ``n_kept`` (rows with a label), ``sample`` (the ordered row sample),
    ``approximate`` (what was decided from the sample), ``fallbacks`` (detector -> why it ran
    on the sample) and ``timings``.
    """

    def __init__(self, columns: list, description: str, *, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 sample_rows: int = DEFAULT_SAMPLE_ROWS, random_state: int = 0) -> None:
        self.columns = list(columns)
        self.description = description
        self.chunk_rows, self.sample_rows = int(chunk_rows), int(sample_rows)
        self.random_state = int(random_state)
        self.fallbacks: dict = {}
        self.skipped: list = []
        self.timings: dict = {}
        self.source = None
        self._sample_ctx = None

    @classmethod
    def from_source(cls, source: Source, *, chunk_rows=DEFAULT_CHUNK_ROWS, sample_rows=DEFAULT_SAMPLE_ROWS,
                    random_state=0, k_max=None, spill_dir=None, progress=None, **roles_kw) -> "StreamScan":
        """Both passes over a :class:`Source` (pass two reads the spilled codes)."""
        self = cls(source.columns, source.description, chunk_rows=chunk_rows, sample_rows=sample_rows,
                   random_state=random_state)
        self.source = source
        label = self.label_of(roles_kw.get("label"))
        spill = Spill(spill_dir)
        try:
            t0 = time.perf_counter()
            states, sample, n_rows = self._pass_one(label, spill, progress)
            t1 = time.perf_counter()
            self.finish_summary(states, sample, n_rows, k_max=k_max, **roles_kw)
            out, total = self._pass_two(spill, progress)
            self.set_counts(out, total)
            self.timings = {"pass1_s": round(t1 - t0, 3), "pass2_s": round(time.perf_counter() - t1, 3)}
        finally:
            spill.close()
        return self

    def label_of(self, label: str | None) -> str:
        """The label column (inferred from the names when not given); a ColumnError when absent."""
        label, _ = infer_label(self.columns, label)
        if label not in self.columns:
            from .roles import _missing_column
            raise _missing_column(label, self.columns, "Label")
        return label

    def finish_summary(self, states: dict, sample: "Sample", n_rows: int, *, k_max=None, **roles_kw) -> None:
        """Roles from the pass-one summaries, and the count tables to precompute."""
        self.states, self.sample, self.n_rows = states, sample, int(n_rows)
        for st in states.values():
            if st.counts is not None:
                st.counts.merge()
        self.typed = {c: typed_column(s) for c, s in states.items()}
        self.roles, self.preps, self.approximate = resolve_summary(
            self.columns, self.typed, self.n_rows, sample_values=self._sample_values, **roles_kw)
        self.n_kept = self.n_rows - self.roles.n_rows_dropped
        self.levels = {p: prep.levels for p, prep in self.preps.items()}
        self.indicators = self._missing_indicators()
        self.sizes = {p: len(prep.levels) for p, prep in {**self.preps, **self.indicators}.items()}
        needed = plan_tables(self.roles, self.levels, self._observed(), self.n_kept, k_max)
        needed += self._missing_sets()
        self.tables = cover(needed, self.sizes, list(self.preps) + list(self.indicators))

    def _missing_indicators(self) -> dict:
        """Hidden ``__missing__:<c>`` columns for every column reporting checks that misses a kept value."""
        roles = self.roles
        skip = set(roles.ids) | {roles.label} | ({roles.weight} if roles.weight else set())
        out = {}
        for c in self.columns:
            if c not in skip and self.typed[c].null_kept > 0:
                prep = missing_indicator(c)
                out[prep.name] = prep
        return out

    def _missing_sets(self) -> list:
        """g x missing and stratum x g x missing for every group (label, non-derived attributes)."""
        roles = self.roles
        groups = [roles.label] + [g for g in roles.attributes if g not in roles.derived]
        out = []
        for name, prep in self.indicators.items():
            gs = [g for g in groups if g != prep.source]
            out += [frozenset((g, name)) for g in gs]
            out += [frozenset((a, b, name)) for i, a in enumerate(gs) for b in gs[i + 1:]]
        return out

    def set_counts(self, out: dict | None, total) -> None:
        """The summed count tables -> the :class:`CountStore`."""
        weighted = self.roles.weight is not None
        if out is None:
            out = count_chunk({}, self.sizes, self.tables, np.empty(0) if weighted else None)
        self.store = CountStore(self.levels, out, float(total) if weighted else int(total), weighted=weighted,
                                hidden={p: prep.levels for p, prep in self.indicators.items()})

    def counter(self) -> "ChunkCounter":
        """What counting a chunk needs (small; shipped to Dask workers)."""
        w = self.roles.weight
        wtable = None
        if w and self.typed[w].canon is not None:
            t = self.typed[w]
            wtable = np.full(NULL16 + 1, np.nan)
            wtable[:len(t.canon)] = t.distinct.to_numpy(dtype=float)[t.canon]
        return ChunkCounter({**self.preps, **self.indicators}, self.sizes, self.tables, self.roles.label, w, wtable)

    def count_codes(self, raw: dict, out: dict | None = None) -> tuple[dict, float]:
        """Add one chunk of raw codes / numbers (by source column) to the count tables."""
        if getattr(self, "_counter", None) is None:
            self._counter = self.counter()
        return self._counter.count(raw, out)

    # ------------------------------------------------------------------ pass one
    def _pass_one(self, label: str, spill: Spill, progress):
        src = self.source
        states = {c: ColumnState(c, src.kinds[c], na_strings=src.na_strings if src.kinds[c] == "text" else frozenset(),
                                 pandas_dtype=src.dtypes.get(c)) for c in self.columns}
        sample = Sample(self.sample_rows)
        row = 0
        est = max(1, -(-int(src.rows_estimate) // self.chunk_rows)) if src.rows_estimate else None
        for i, (m, chunk) in enumerate(prefetch(src.chunks())):
            lab = _coerce(chunk[label], states[label])
            if lab[0] == "dict":
                present = ~np.append(states[label].local_missing(lab[1]), True)[lab[2]]
            else:
                present = ~np.isnan(lab[1])
            keys = sample_keys(self.random_state, row, m)
            take = np.flatnonzero(keys < sample.threshold())
            picked = {"__present__": present[take]}
            for c in self.columns:
                st = states[c]
                inp = _coerce(chunk[c], st)
                before = st.mode
                out = st.add_dict(inp[1], inp[2], present) if inp[0] == "dict" else st.add_num(inp[1], present)
                if st.mode != before:
                    self._switched(c, st, before, spill, sample)
                if st.mode == "dict":
                    spill.write(c, out)
                    picked[c] = out[take]
                elif st.mode == "num":
                    spill.write(c, np.asarray(out, dtype=np.float64))
                    picked[c] = np.asarray(out, dtype=np.float64)[take]
                elif inp[0] == "dict":  # hashed text: only its null flags are spilled
                    spill.write(c, np.append(st.local_missing(inp[1]), True)[inp[2]].astype(np.uint8))
                    picked[c] = np.array(list(inp[1]) + [None], dtype=object)[inp[2][take]]
                else:
                    spill.write(c, np.isnan(inp[1]).astype(np.uint8))
                    picked[c] = inp[1][take].astype(object)
            sample.add(keys[take], row + take, picked)
            spill.chunks.append(m)
            row += m
            if progress is not None:
                progress("reading", i, max(i + 1, est or 1))
        return states, sample.ordered(), row

    @staticmethod
    def _switched(col: str, st: ColumnState, before: str, spill: Spill, sample: Sample) -> None:
        sample.compact()
        prev = st.previous_values
        if before == "dict" and st.mode == "num":
            table = np.full(NULL16 + 1, np.nan)
            text = pd.Series([str(v).strip() for v in prev], dtype=object)
            table[:len(prev)] = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
            spill.convert(col, lambda codes: table[codes])
            if col in sample.cols:
                sample.cols[col] = table[sample.cols[col]]
            return
        if before == "dict":  # now hashed text: keep only the null flags
            spill.convert(col, lambda codes: (codes == NULL16).astype(np.uint8))
        else:
            spill.convert(col, lambda x: np.isnan(x).astype(np.uint8))
        if col in sample.cols:
            old = sample.cols[col]
            if before == "dict":
                objs = np.empty(NULL16 + 1, dtype=object)
                objs[:len(prev)] = prev
                sample.cols[col] = objs[old]
            else:
                sample.cols[col] = np.array([None if np.isnan(v) else v for v in old], dtype=object)

    def _sample_values(self, col: str) -> np.ndarray:
        v = self.sample.cols.get(col)
        if v is None:
            return np.empty(0)
        v = v[self.sample.cols["__present__"]]
        return np.asarray(pd.to_numeric(pd.Series(v), errors="coerce"), dtype=float)

    def _observed(self) -> dict:
        """Observed non-missing levels of each prepared column (0 when only the sample knows them)."""
        out = {}
        for p, prep in self.preps.items():
            t = self.typed[prep.source]
            st = self.states[prep.source]
            if prep.lookup is not None and t.canon is not None:
                codes = prep.lookup[np.arange(len(t.canon))]
                w = st.kept[:len(t.canon)]
                ok = codes >= 0
                c = np.bincount(codes[ok], weights=w[ok], minlength=len(prep.levels))
            elif t.exact and len(t.distinct):
                codes = prep.encode(t.distinct.to_numpy(dtype=float))
                ok = codes >= 0
                c = np.bincount(codes[ok], weights=t.kept[ok], minlength=len(prep.levels))
            else:
                out[p] = 0
                continue
            out[p] = 0 if self.roles.weight else observed_levels(prep.levels, c)
        return out

    # ------------------------------------------------------------------ pass two
    def _pass_two(self, spill: Spill, progress) -> tuple[dict | None, float]:
        sources = self.counter().sources
        out, total = None, 0.0
        n_chunks = -(-sum(spill.chunks) // self.chunk_rows)
        for i, (m, raw) in enumerate(spill.read_chunks(sources, self.chunk_rows)):
            out, t = self.count_codes(raw, out)
            total += t
            if progress is not None:
                progress("counting", i, n_chunks)
        return out, total

    # ------------------------------------------------------------------ contexts
    @property
    def sample_complete(self) -> bool:
        return len(self.sample.rows) >= self.n_rows

    def context(self, settings, options):
        from .context import AuditContext
        return AuditContext(table=self.store, roles=self.roles, settings=settings,
                            frame=RowGuard("frame", list(self.preps)), raw=RowGuard("raw", self.columns),
                            options=options)

    def sample_raw(self) -> pd.DataFrame:
        """The row sample as :func:`biasaudit.load` would type it."""
        out = {}
        for c in self.columns:
            out[c] = _typed_values(self.typed[c], self.states[c], self.sample.cols[c])
        return pd.DataFrame(out)

    def sample_context(self, settings, options):
        """An in-memory context over the row sample (global roles and levels)."""
        if self._sample_ctx is not None:
            return self._sample_ctx
        from .context import AuditContext
        from .counts import CodedTable
        raw = self.sample_raw()
        present = np.asarray(self.sample.cols["__present__"], dtype=bool)
        codes = {p: prep.encode(self.sample.cols[prep.source][present]) for p, prep in self.preps.items()}
        w = None
        if self.roles.weight:
            w = pd.to_numeric(raw[self.roles.weight][present], errors="coerce").to_numpy(dtype=float)
        table = CodedTable(codes, self.levels, w)
        frame = {}
        for p, prep in self.preps.items():
            names = [lv for lv in prep.levels]
            miss = prep.missing_code
            c = codes[p].astype(np.int64)
            cats = names[:miss] + names[miss + 1:] if miss >= 0 else names
            c = np.where(c == miss, -1, c) if miss >= 0 else c
            frame[p] = pd.Categorical.from_codes(c, categories=cats, ordered=p in self.roles.bins)
        frame = pd.DataFrame(frame)
        if self.roles.weight:
            frame[self.roles.weight] = w
        for c in self.roles.ids:
            frame[c] = raw[c][present].to_numpy()
        self._sample_ctx = AuditContext(table=table, roles=self.roles, settings=settings, frame=frame, raw=raw,
                                        options=options)
        return self._sample_ctx

    def rows_context(self, settings, options):
        """A context with every row (the sample, when it holds them all) for row-level steps after the
        detectors (e.g. folding group rates by stratified tests); None when the sample is partial."""
        if self.sample_complete:
            return self.sample_context(settings, options)
        if "group-rate folding by stratified tests (needs every row)" not in self.skipped:
            self.skipped.append("group-rate folding by stratified tests (needs every row)")
        return None

    def run(self, name: str, fn, settings, options):
        """Run a detector on the count tables; on the row sample when it needs rows."""
        if name == "reporting" and getattr(fn, "__module__", "") == "biasaudit.detectors.reporting":
            from ..detectors._reporting_counts import reporting_from_counts
            sample = self.sample_context(settings, options) if len(self.sample.rows) else None
            note = None if self.sample_complete else self._approximate_note()
            if sample is None:
                self.skipped.append("reporting: duplicates (needs rows; sample_rows=0)")
            else:
                self.fallbacks["reporting:duplicates"] = "exact duplicate rows need every row"
            return reporting_from_counts(self.context(settings, options), sample, note)
        try:
            return fn(self.context(settings, options))
        except RowAccessError as exc:
            self.fallbacks[name] = str(exc)
        if len(self.sample.rows) == 0:  # sample_rows=0: row-level detectors are not run
            self.skipped.append(f"{name} (needs rows; sample_rows=0)")
            return []
        found = fn(self.sample_context(settings, options))
        if self.sample_complete:
            return found
        note = self._approximate_note()
        section = None
        if isinstance(found, tuple):
            found, section = found
        found = [f.evolve(details={**(f.details or {}), "approximate": note}) for f in found]
        return (found, section) if section is not None else found

    def _approximate_note(self) -> str:
        return (f"computed on a seeded uniform sample of {len(self.sample.rows):,} of {self.n_rows:,} rows "
                f"(streaming engine): approximate")

    # ------------------------------------------------------------------ report
    def dataset_info(self, source: str) -> dict:
        """The ``dataset`` block of the audit result (as ``audit._dataset_info`` builds it)."""
        roles = self.roles
        label_counts = self.store.count(roles.label)
        cols = []
        for c in self.columns:
            t = self.typed[c]
            n_u = t.n_unique_all if t.n_unique_all is not None else int(pd.Series(
                self.sample.cols[c]).nunique())
            cols.append({"name": str(c), "kind": roles.kinds.get(c, "excluded"), "n_unique": int(n_u),
                         "n_missing": int(t.n_missing_all)})
        for c, parent in roles.derived.items():
            lv = self.levels[c]
            counts = self.store.count(c).counts
            n_u = int(sum(1 for name, k in zip(lv, counts) if k > 0 and name != "(missing)"))
            cols.append({"name": c, "kind": "derived", "derived_from": parent, "n_unique": n_u,
                         "n_missing": int(self.typed[parent].null_kept)})
        return {
            "source": source, "n_rows": int(self.n_rows), "n_rows_audited": int(self.n_kept),
            "n_weighted": float(self.store.n) if roles.weight else None,
            "label": roles.label, "label_values": list(roles.label_values), "positive": roles.positive,
            "label_counts": {v: label_counts.counts[i] for i, v in enumerate(label_counts.levels[0])},
            "sensitive": list(roles.sensitive), "attributes": list(roles.attributes),
            "ids": list(roles.ids), "weight": roles.weight, "bins": dict(roles.bins),
            "derived": dict(roles.derived), "excluded": dict(roles.excluded),
            "notes": list(roles.notes) + self._engine_notes(), "skipped": [], "columns": cols,
        }

    def _engine_notes(self) -> list:
        """Notes for the user when something rests on the sample (none when every row was used)."""
        out = []
        if self.fallbacks and not self.sample_complete:
            out.append(f"Detectors that need rows ({', '.join(self.fallbacks)}) ran on a seeded sample of "
                       f"{len(self.sample.rows):,} of {self.n_rows:,} rows; their findings are approximate "
                       f"(raise --sample-rows, or use --engine memory, for exact ones).")
        out += [f"Approximate: {a}." for a in self.approximate]
        return out

    def section(self, engine: str = "stream") -> dict:
        """What the engine did, for the report's method section."""
        n_s = len(self.sample.rows)
        exact_rows = self.sample_complete
        how = f"in chunks of {self.chunk_rows:,}" if self.chunk_rows else "partition by partition"
        text = [f"{engine.capitalize()} engine: {self.description}, {self.n_rows:,} rows read {how}; "
                f"{len(self.tables)} count table(s) precomputed, added up chunk by chunk."]
        binned = [c for c in self.roles.bins]
        if binned:
            how = [f"{c} ({'quantiles of the row sample' if any(a.startswith(c + ':') for a in self.approximate) else 'exact quantiles from a first pass'})"
                   for c in binned]
            text.append("Numeric attributes binned: " + ", ".join(how) + ".")
        ran = [d for d in self.fallbacks if not any(x.startswith(d + " ") for x in self.skipped)]
        if ran:
            text.append(f"Detectors that need rows ({', '.join(ran)}) ran on a seeded uniform sample of "
                        f"{n_s:,} rows" + (" (every row: exact)." if exact_rows else "; their findings are approximate."))
        if self.skipped:
            text.append("Not done without every row: " + "; ".join(self.skipped) + ".")
        return {"engine": engine, "chunk_rows": self.chunk_rows, "n_rows": int(self.n_rows), "sample_rows": n_s,
                "sample_complete": exact_rows, "tables": [list(t) for t in self.tables],
                "row_detectors": dict(self.fallbacks), "skipped": list(self.skipped),
                "approximate": list(self.approximate), "timings": dict(self.timings), "text": text}


def _typed_values(t, st: ColumnState, raw: np.ndarray) -> pd.Series:
    """Sampled raw codes / numbers / values as the loaded column's values and dtype."""
    if t.mode == "dict":
        vals = t.distinct.tolist()
        per_code = np.empty(NULL16 + 1, dtype=object)
        per_code[:] = np.nan
        if t.canon is not None and len(t.canon):
            per_code[:len(t.canon)] = [vals[j] for j in t.canon]
        v = per_code[raw.astype(np.int64)] if len(raw) else np.empty(0, dtype=object)
        missing = t.n_missing_all > 0
        if t.kind == "bool":
            return pd.Series(v, dtype=object if missing else bool)
        if t.kind == "num":
            return pd.Series(v.astype(float)).astype("int64" if t.int_dtype else "float64")
        if t.kind == "text":
            return pd.Series(v, dtype="str")
        dt = st.pandas_dtype
        if isinstance(dt, pd.CategoricalDtype):
            return pd.Series(pd.Categorical(v, categories=dt.categories, ordered=dt.ordered))
        return pd.Series(v, dtype=object)
    if t.mode == "num":
        x = np.asarray(raw, dtype=float)
        return pd.Series(x).astype("int64" if t.int_dtype else "float64")
    v = np.asarray(raw, dtype=object)
    if st.source == "text":
        v = np.array([np.nan if (x is None or (isinstance(x, str) and (not x.strip()
                                                                      or x.lstrip(" ") in st.na_strings)))
                      else (x.strip() if isinstance(x, str) else x) for x in v], dtype=object)
        return pd.Series(v, dtype="str")
    return pd.Series([np.nan if x is None else x for x in v], dtype=object)


def scan(data, *, chunk_rows: int | None = None, sample_rows: int | None = None, encoding: str = "utf-8",
         delimiter: str | None = None, spill_dir: str | None = None, progress=None, **roles_kw) -> StreamScan:
    """Run both passes of a streaming scan over a file or a DataFrame (see the module docstring).

    Parameters
    ----------
    data : path or pandas.DataFrame
        A CSV/TSV (optionally .gz/.bz2) or Parquet file, or a DataFrame read in chunks.
    chunk_rows : int, optional
        Rows per chunk (default ``DEFAULT_CHUNK_ROWS``).
    sample_rows : int, optional
        Rows of the seeded sample for detectors that need rows (default ``DEFAULT_SAMPLE_ROWS``).
    **roles_kw
        label, sensitive, weight, ids, attributes, multi, positive, n_bins, max_levels, k_max,
        random_state: as for :func:`biasaudit.audit`.
    """
    chunk_rows = DEFAULT_CHUNK_ROWS if chunk_rows is None else int(chunk_rows)
    if chunk_rows < 1:
        raise ValueError(f"The 'chunk_size' parameter must be a positive number of rows. Got {chunk_rows!r} instead.")
    sample_rows = DEFAULT_SAMPLE_ROWS if sample_rows is None else int(sample_rows)
    source = open_source(data, chunk_rows, encoding=encoding, delimiter=delimiter)
    return StreamScan.from_source(source, chunk_rows=chunk_rows, sample_rows=sample_rows, spill_dir=spill_dir,
                                  progress=progress, **roles_kw)


def engine_scan(data, *, engine: str = "stream", chunk_size: int | None = None, sample_rows: int | None = None,
                progress=None, table: str | None = None, query: str | None = None, **roles_kw):
    """The scan of the stream, dask or sql engine (what :func:`biasaudit.audit` calls)."""
    if engine == "sql":
        from .sqlscan import scan_sql
        return scan_sql(data, table=table, query=query, sample_rows=sample_rows, progress=progress, **roles_kw)
    if table is not None or query is not None:
        raise ValueError("'table' and 'query' select what to audit in a database; this source is not one.")
    if engine == "dask":
        from .dask import scan_dask
        return scan_dask(data, sample_rows=sample_rows, progress=progress, **roles_kw)
    return scan(data, chunk_rows=chunk_size, sample_rows=sample_rows, progress=progress, **roles_kw)
