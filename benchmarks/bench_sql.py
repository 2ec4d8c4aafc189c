"""SQL benchmark: the database counts, the client stays flat; DuckDB as a counting engine for files.

Every step runs in a fresh process (imports included) under ``/usr/bin/time``: wall time and peak
resident memory of the client process (the PostgreSQL server's memory is not the client's and is not
counted; DuckDB runs inside the client, so its memory is):

  pg             biasaudit.audit("postgresql://...", table=...)   (the SQL engine)
  duckdb         biasaudit.audit("duckdb:///file.duckdb", table=...)
  pg-export      COPY the PostgreSQL table TO a CSV file (psycopg), then audit the CSV (stream engine)
  duckdb-export  COPY the DuckDB table TO a CSV file, then audit the CSV (stream engine)
  stream-csv     biasaudit.audit(csv, engine="stream")  (the current file engine)
  duckdb-csv     biasaudit.audit("duckdb:///:memory:", query="SELECT * FROM read_csv(...)")
  stream-parquet biasaudit.audit(parquet, engine="stream")
  duckdb-parquet biasaudit.audit("duckdb:///:memory:", query="SELECT * FROM read_parquet(...)")

Every audit runs ``--detectors`` (default: group attribution and the conditional tests, which read
only count tables, so that the engine's own cost shows; ``all`` runs every detector but the probe).  The data are
``bench_scale.make``'s table (11 attributes with 2-7 levels and a yes/no label), loaded into
PostgreSQL with ``COPY`` and into DuckDB with ``CREATE TABLE AS SELECT * FROM read_csv(...)``
(loading is set-up, not timed).  PostgreSQL: the server named by ``--pg`` (e.g. the URL printed by
``.ci/postgres start DIR``).

Usage::

    python benchmarks/bench_sql.py --pg postgresql://postgres@127.0.0.1:PORT/biasaudit --rows 1000000 10000000
    python benchmarks/bench_sql.py --rows 1000000 10000000 --steps stream-csv duckdb-csv stream-parquet duckdb-parquet
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from bench_scale import DATA, _detectors, data_path, machine  # noqa: E402

STEPS = ("pg", "duckdb", "pg-export", "duckdb-export", "stream-csv", "duckdb-csv", "stream-parquet",
         "duckdb-parquet")


def _table(rows: int) -> str:
    return f"scale_{rows}"


def load_pg(url: str, rows: int, csv: Path) -> None:  # noqa: C901
    """The CSV into PostgreSQL (text columns), with COPY; skipped when the table has the rows."""
    import psycopg
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    t = _table(rows)
    with psycopg.connect(conninfo, autocommit=True) as con:
        have = con.execute("SELECT to_regclass(%s) IS NOT NULL", (t,)).fetchone()[0]
        if have and con.execute(psycopg.sql.SQL("SELECT count(*) FROM {}").format(
                psycopg.sql.Identifier(t))).fetchone()[0] == rows:
            return
        import csv as _csv
        with csv.open(newline="") as fh:
            header = next(_csv.reader(fh))
        cols = psycopg.sql.SQL(", ").join(psycopg.sql.SQL("{} text").format(psycopg.sql.Identifier(c)) for c in header)
        con.execute(psycopg.sql.SQL("DROP TABLE IF EXISTS {}").format(psycopg.sql.Identifier(t)))
        con.execute(psycopg.sql.SQL("CREATE TABLE {} ({})").format(psycopg.sql.Identifier(t), cols))
        with con.cursor().copy(psycopg.sql.SQL("COPY {} FROM STDIN WITH (FORMAT csv, HEADER true)").format(
                psycopg.sql.Identifier(t))) as cp, csv.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                cp.write(chunk)
        con.execute(psycopg.sql.SQL("ANALYZE {}").format(psycopg.sql.Identifier(t)))


def load_duckdb(rows: int, csv: Path) -> Path:
    import duckdb
    path = DATA / f"scale_{rows}.duckdb"
    if not path.exists():
        tmp = path.with_suffix(".tmp.duckdb")
        con = duckdb.connect(str(tmp))
        con.execute(f"CREATE TABLE {_table(rows)} AS SELECT * FROM read_csv(?, all_varchar = true)", [str(csv)])
        con.close()
        os.replace(tmp, path)
    return path


# ----------------------------------------------------------------------------- steps (child process)
def step(name: str, rows: int, pg: str | None, detectors: str | None) -> dict:
    sys.path.insert(0, str(ROOT))
    t0 = time.perf_counter()
    import biasaudit as ba
    det = _detectors(detectors)
    csv = data_path(rows, 12, True)
    export_s = None
    if name == "pg":
        r = ba.audit(pg, table=_table(rows), probe=False, detectors=det)
    elif name == "duckdb":
        r = ba.audit(DATA / f"scale_{rows}.duckdb", table=_table(rows), probe=False, detectors=det)
    elif name in ("pg-export", "duckdb-export"):
        out = DATA / f"export_{name}_{rows}.csv"
        if name == "pg-export":
            import psycopg
            with psycopg.connect(pg.replace("postgresql+psycopg://", "postgresql://")) as con, out.open("wb") as fh:
                with con.cursor().copy(psycopg.sql.SQL("COPY {} TO STDOUT WITH (FORMAT csv, HEADER true)").format(
                        psycopg.sql.Identifier(_table(rows)))) as cp:
                    for chunk in cp:
                        fh.write(chunk)
        else:
            import duckdb
            con = duckdb.connect(str(DATA / f"scale_{rows}.duckdb"), read_only=True)
            con.execute(f"COPY {_table(rows)} TO '{out}' (HEADER, DELIMITER ',')")
            con.close()
        export_s = time.perf_counter() - t0
        r = ba.audit(out, engine="stream", probe=False, detectors=det)
        out.unlink()
    elif name == "stream-csv":
        r = ba.audit(csv, engine="stream", probe=False, detectors=det)
    elif name == "stream-parquet":
        r = ba.audit(data_path(rows, 12, True, "parquet"), engine="stream", probe=False, detectors=det)
    elif name == "duckdb-csv":
        r = ba.audit("duckdb:///:memory:", query=f"SELECT * FROM read_csv('{csv}', all_varchar = true)",
                     probe=False, detectors=det)
    elif name == "duckdb-parquet":
        pq = data_path(rows, 12, True, "parquet")
        r = ba.audit("duckdb:///:memory:", query=f"SELECT * FROM read_parquet('{pq}')", probe=False, detectors=det)
    else:
        raise ValueError(name)
    seconds = time.perf_counter() - t0
    e = r.sections.get("engine", {})
    t = e.get("timings", {})
    note = f"{len(r.findings)} findings"
    if t:
        note += f"; passes {t['pass1_s']:.1f}+{t['pass2_s']:.1f} s"
    if export_s is not None:
        note += f"; export {export_s:.1f} s"
    key = [(f.id, f.p_value) for f in r.findings if f.detector == "group_attribution"]
    return {"step": name, "rows": rows, "inner_seconds": round(seconds, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), "note": note,
            "key": hashlib.md5(json.dumps(key, default=str).encode()).hexdigest()[:8]}


def run(name: str, rows: int, pg: str | None, timeout: float, detectors: str | None) -> dict:
    """One step in a fresh process under ``/usr/bin/time``: its wall time and its own peak RSS.

    (A child's ``ru_maxrss`` starts at its parent's resident size at fork time, so the parent's memory,
    e.g. after writing the data, would show in every step; ``time`` forks from a small process.)
    """
    cmd = ["/usr/bin/time", "-f", "TIME %e s %M KB", sys.executable, __file__, "--step", name, "--rows", str(rows)] + (
        ["--pg", pg] if pg else []) + (["--detectors", detectors] if detectors else [])
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"step": name, "rows": rows, "seconds": None, "peak_rss_mb": None, "note": f"stopped after {timeout:.0f} s"}
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"step": name, "rows": rows, "seconds": None, "peak_rss_mb": None, "note": f"failed: {last[:160]}"}
    r = json.loads(out.stdout.strip().splitlines()[-1])
    timed = [ln.split() for ln in out.stderr.splitlines() if ln.startswith("TIME ")][-1]
    r["seconds"], r["peak_rss_mb"] = float(timed[1]), round(int(timed[3]) / 1024)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS)
    ap.add_argument("--pg", help="PostgreSQL URL (steps pg and pg-export)")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--detectors", default="group_attribution,conditional",
                    help="comma-separated detectors (default: two count-only detectors, so that the engine's cost "
                         "shows; 'all' for every registered detector but the probe)")
    ap.add_argument("--step", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        print(json.dumps(step(args.step, args.rows[0], args.pg, None if args.detectors == "all" else args.detectors)))
        return
    steps = [s for s in args.steps if args.pg or not s.startswith("pg")]
    print(machine())
    print("| rows | step | wall s | peak client RSS MB | note |\n|---:|---|---:|---:|---|", flush=True)
    for rows in args.rows:
        csv = data_path(rows, 12, True)
        if any(s.endswith("parquet") for s in steps):
            data_path(rows, 12, True, "parquet")
        if args.pg and any(s.startswith("pg") for s in steps):
            load_pg(args.pg, rows, csv)
        if any(s.startswith("duckdb") and s not in ("duckdb-csv", "duckdb-parquet") for s in steps):
            load_duckdb(rows, csv)
        for s in steps:
            r = run(s, rows, args.pg, args.timeout, args.detectors)
            secs = "-" if r["seconds"] is None else f"{r['seconds']:.1f}"
            mem = "-" if r["peak_rss_mb"] is None else f"{r['peak_rss_mb']:,}"
            key = f"; group-attribution key {r['key']}" if r.get("key") else ""
            print(f"| {rows:,} | {s} | {secs} | {mem} | {r['note']}{key} |", flush=True)


if __name__ == "__main__":
    main()
