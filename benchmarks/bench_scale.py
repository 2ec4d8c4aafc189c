"""Scale benchmark: wall time and peak memory of reading a table, auditing it, and the peers.

Every step runs in a fresh process (imports included); the wall time is measured around the
process and the peak resident memory is the process's own ``ru_maxrss``:

  floor          pyarrow.csv.read_csv: just reading the file (the floor every other row is compared with)
  scan           ``biasaudit scan FILE`` as a user types it: every detector, the probe on (JSON to a file)
  scan-no-probe  the same with ``--no-probe``
  audit-df       ``biasaudit.audit(df)`` on a DataFrame already in memory (only the call is timed: "inner s")
  passes         the engine's own share: the summary pass and the counting pass, no detector
  dask           biasaudit.audit(read_dask(path)) on local threads, every detector but the probe
  floor-parquet  pyarrow.parquet.read_table of the same table as Parquet
  scan-parquet   ``biasaudit scan FILE.parquet`` (every detector, probe on)
  import         ``python -c "import biasaudit"``;  version: ``biasaudit --version``
  fairlearn      MetricFrame(selection_rate, count) per attribute           } each in its own virtual
  aequitas       Group().get_crosstabs over every attribute                 } environment under
  divexplorer    DivergenceExplorer pattern divergence, min_support 0.05    } benchmarks/data/venvs
  aif360         BinaryLabelDatasetMetric.disparate_impact per attribute    } (--setup-peers)

The "note" of an audit step gives the engine's passes and every detector's time (seconds, measured
inside the process).  ``--profile`` prints the functions that take the most time in the default scan.
``--levels 500`` gives the first attribute 500 levels (growth in levels); ``--cols 12 30 60`` the
growth in columns.

The data are written by :func:`make` (columns c0..c(n-2) with 2 + i % 6 levels "v0", "v1", ... and a
yes/no label), chunk by chunk so that memory stays flat.

Usage::

    python benchmarks/bench_scale.py --setup-peers          # once: one venv per peer, pip install
    python benchmarks/bench_scale.py                        # 1e5, 1e6, 1e7 rows x 12 columns
    python benchmarks/bench_scale.py --rows 100000 --steps floor scan --write benchmarks/results_1e5.md
    python benchmarks/bench_scale.py --rows 1000000 --profile
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
VENVS = DATA / "venvs"
PEERS = ("fairlearn", "aequitas", "divexplorer", "aif360")
STEPS = ("import", "version", "floor", "scan", "scan-no-probe", "audit-df", "passes", "dask", "floor-parquet",
         "scan-parquet") + PEERS
DEFAULT_STEPS = ("import", "version", "floor", "scan", "scan-no-probe", "audit-df", "passes", "floor-parquet",
                 "scan-parquet")


# ----------------------------------------------------------------------------- data
def make(path: Path, rows: int, cols: int = 12, *, seed: int = 0, levels=None, planted: bool = True,
         chunk: int = 1_000_000) -> None:
    """Write a seeded table of ``rows`` x ``cols`` (``cols - 1`` attributes and a yes/no label).

    Parameters
    ----------
    levels : list of int, optional
        Levels of each attribute (default ``2 + i % 6``, as in ``bench_counts.make``).
    planted : bool
        Plant a group-attribution bias (P(yes) = .55 for c0=v0, .45 otherwise) and a coverage gap
        (no "yes" where c1=v2 and c2=v3); otherwise the label is independent of everything.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    levels = list(levels) if levels is not None else [2 + i % 6 for i in range(cols - 1)]
    names = [f"c{i}" for i in range(cols - 1)] + ["label"]
    rng = np.random.default_rng(seed)
    schema = pa.schema([(n, pa.string()) for n in names])
    tmp = path.with_suffix(".tmp")
    with pacsv.CSVWriter(str(tmp), schema, write_options=pacsv.WriteOptions(quoting_style="none")) as w:
        for start in range(0, rows, chunk):
            m = min(chunk, rows - start)
            codes = [rng.integers(0, k, m) for k in levels]
            p_yes = np.full(m, 0.5)
            if planted:
                p_yes = np.where(codes[0] == 0, 0.55, 0.45)
                if len(levels) > 2:
                    p_yes[(codes[1] == 2 % levels[1]) & (codes[2] == 3 % levels[2])] = 0.0
            yes = rng.random(m) < p_yes
            arrs = [pa.DictionaryArray.from_arrays(pa.array(c.astype(np.int32)),
                                                   pa.array([f"v{j}" for j in range(k)])).cast(pa.string())
                    for c, k in zip(codes, levels)]
            arrs.append(pa.array(np.where(yes, "yes", "no")))
            w.write_batch(pa.record_batch(arrs, names=names))
    os.replace(tmp, path)


def data_path(rows: int, cols: int, planted: bool, fmt: str = "csv", first_levels: int | None = None) -> Path:
    DATA.mkdir(exist_ok=True)
    tag = f"_l{first_levels}" if first_levels else ""
    path = DATA / f"scale_{rows}x{cols}{tag}{'' if planted else '_null'}.csv"
    if not path.exists():
        print(f"writing {path.name} ...", file=sys.stderr)
        levels = [2 + i % 6 for i in range(cols - 1)]
        if first_levels:
            levels[0] = first_levels
        make(path, rows, cols, planted=planted, levels=levels)
    if fmt == "parquet":
        pq_path = path.with_suffix(".parquet")
        if not pq_path.exists():
            to_parquet(path, pq_path)
        return pq_path
    return path


def to_parquet(csv_path: Path, path: Path) -> None:
    """The CSV as Parquet (dictionary-encoded string columns), converted batch by batch."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    reader = pacsv.open_csv(str(csv_path))
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(str(tmp), reader.schema, use_dictionary=True) as w:
        for batch in reader:
            w.write_batch(batch, row_group_size=1_000_000)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- steps (child process)
def _detectors(spec: str | None) -> list | None:
    return spec.split(",") if spec else None


class Stages:
    """A ``progress`` callback that times every stage of an audit (reading, counting, each detector, grading)."""

    def __init__(self) -> None:
        self.t, self.current, self.times = time.perf_counter(), None, {}

    def __call__(self, stage, done=None, total=None) -> None:
        now = time.perf_counter()
        if stage != self.current:
            if self.current is not None:
                self.times[self.current] = self.times.get(self.current, 0.0) + now - self.t
            self.current, self.t = stage, now

    def note(self) -> str:
        self("done")
        rest = sorted(((k, v) for k, v in self.times.items() if k not in ("reading", "counting")), key=lambda kv: -kv[1])
        return (f"read {self.times.get('reading', 0):.2f} s, count {self.times.get('counting', 0):.2f} s; "
                + ", ".join(f"{k} {v:.2f}" for k, v in rest if v >= 0.005))


def _cli(path: str, *extra: str):
    """``biasaudit scan`` in this process, as the console script runs it; the result from its JSON and the
    time of every stage (the CLI's progress bar replaced by a :class:`Stages` recorder)."""
    import tempfile
    sys.path.insert(0, str(ROOT))
    from biasaudit.integrations import cli as cli_module
    stages = Stages()
    cli_module._progress = lambda enabled: (stages, None)
    out = Path(tempfile.mkdtemp()) / "r.json"
    sys.argv = ["biasaudit", "scan", path, "--format", "json", "-o", str(out), "-q", "--no-config", *extra]
    try:
        cli_module.cli.main(prog_name="biasaudit", standalone_mode=False)
    except SystemExit as exc:
        if exc.code not in (0, 1, None):
            raise
    return json.loads(out.read_text()), stages


def _doc_note(doc: dict, stages: Stages) -> str:
    e = doc["engine"]
    return (f"{len(doc['findings'])} findings; sample {e['sample_rows']:,}"
            f"{' (every row)' if e['sample_complete'] else ''}; {stages.note()}")


def step(name: str, path: str, detectors: str | None) -> dict:
    t0 = time.perf_counter()
    inner = None
    note = ""
    if name == "import":
        sys.path.insert(0, str(ROOT))
        import biasaudit  # noqa: F401
        heavy = [m for m in ("scipy.stats", "sklearn", "matplotlib", "statsmodels", "jinja2", "dask", "PIL")
                 if m in sys.modules]
        note = "heavy modules imported: " + (", ".join(heavy) or "none")
    elif name == "version":
        sys.path.insert(0, str(ROOT))
        sys.argv = ["biasaudit", "--version"]
        from biasaudit.integrations.cli import cli
        try:
            cli.main(prog_name="biasaudit", standalone_mode=False)
        except SystemExit:
            pass
    elif name == "floor":
        import pyarrow.csv as pacsv
        pacsv.read_csv(path)
    elif name == "floor-parquet":
        import pyarrow.parquet as pq
        pq.read_table(path)
    elif name in ("scan", "scan-parquet"):
        note = _doc_note(*_cli(path))
    elif name == "scan-no-probe":
        note = _doc_note(*_cli(path, "--no-probe"))
    elif name == "audit-df":
        import pyarrow.csv as pacsv
        df = pacsv.read_csv(path).to_pandas()
        sys.path.insert(0, str(ROOT))
        import biasaudit as ba
        stages = Stages()
        t1 = time.perf_counter()
        r = ba.audit(df, detectors=_detectors(detectors), progress=stages)
        inner = time.perf_counter() - t1
        note = f"{len(r.findings)} findings; {stages.note()}"
    elif name == "passes":
        sys.path.insert(0, str(ROOT))
        from biasaudit.engine import scan as engine
        sc = engine.scan(path)
        sc.count()
        sc.close()
        note = f"{len(sc.tables)} covering tables; pass one {sc.timings['pass1_s']:.2f} s, counting " \
               f"{sc.timings['pass2_s']:.2f} s"
    elif name == "dask":
        sys.path.insert(0, str(ROOT))
        import dask
        import biasaudit as ba
        from biasaudit.engine.dask import read_dask
        stages = Stages()
        with dask.config.set(scheduler="threads"):
            r = ba.audit(read_dask(path), probe=False, detectors=_detectors(detectors), progress=stages)
        note = f"{len(r.findings)} findings; {stages.note()}; local threads"
    else:
        note = _peer(name, path)
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"step": name, "inner_seconds": round(inner if inner is not None else seconds, 2),
            "peak_rss_mb": round(peak_mb), "note": note}


def profile(path: str, top: int = 25) -> None:
    """cProfile of the default scan: the functions with the most own time (share of the total)."""
    import cProfile
    import pstats
    prof = cProfile.Profile()
    prof.enable()
    doc, stages = _cli(path)
    prof.disable()
    print(_doc_note(doc, stages) + "\n")
    st = pstats.Stats(prof)
    total = sum(v[2] for v in st.stats.values())
    rows = sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:top]
    print("| own s | share | calls | function |\n|---:|---:|---:|---|")
    for (file, line, fn), (cc, nc, tt, ct, _) in rows:
        print(f"| {tt:.2f} | {100 * tt / total:.1f} % | {nc} | {Path(file).name}:{line} {fn} |")
    cum = sorted(st.stats.items(), key=lambda kv: -kv[1][3])[:top]
    print("\n| cumulative s | share | function |\n|---:|---:|---|")
    for (file, line, fn), (cc, nc, tt, ct, _) in cum:
        print(f"| {ct:.2f} | {100 * ct / total:.1f} % | {Path(file).name}:{line} {fn} |")


def _peer(name: str, path: str) -> str:
    import warnings
    warnings.simplefilter("ignore")
    import pandas as pd
    df = pd.read_csv(path)  # what a user of the peer would write
    attrs = [c for c in df.columns if c != "label"]
    y = (df["label"] == "yes").astype(int)
    if name == "fairlearn":
        from fairlearn.metrics import MetricFrame, count, selection_rate
        for a in attrs:
            MetricFrame(metrics={"selection_rate": selection_rate, "count": count}, y_true=y, y_pred=y,
                        sensitive_features=df[a]).by_group
        return f"{len(attrs)} MetricFrames (selection rate, count)"
    if name == "aequitas":
        from aequitas.group import Group
        frame = df[attrs].astype(str).assign(score=y, label_value=y)
        Group().get_crosstabs(frame, attr_cols=attrs)
        return f"crosstabs of {len(attrs)} attributes"
    if name == "divexplorer":
        from divexplorer import DivergenceExplorer
        frame = df[attrs].assign(label=y)
        fp = DivergenceExplorer(frame).get_pattern_divergence(min_support=0.05, quantitative_outcomes=["label"])
        return f"{len(fp)} frequent patterns (support >= 0.05)"
    if name == "aif360":
        from aif360.datasets import BinaryLabelDataset
        from aif360.metrics import BinaryLabelDatasetMetric
        num = pd.DataFrame({a: pd.factorize(df[a], sort=True)[0] for a in attrs}).assign(label=y)
        for a in attrs:
            ds = BinaryLabelDataset(df=num, label_names=["label"], protected_attribute_names=[a])
            BinaryLabelDatasetMetric(ds, unprivileged_groups=[{a: 1}], privileged_groups=[{a: 0}]).disparate_impact()
        return f"disparate impact of {len(attrs)} attributes (level 1 vs 0)"
    raise ValueError(f"unknown step {name!r}")


# ----------------------------------------------------------------------------- driver
def _python_for(name: str) -> str | None:
    if name not in PEERS:
        return sys.executable
    exe = VENVS / name / "bin" / "python"
    return str(exe) if exe.exists() else None


def run(name: str, path: Path, timeout: float, detectors: str | None) -> dict:
    exe = _python_for(name)
    if exe is None:
        return {"step": name, "seconds": None, "peak_rss_mb": None,
                "note": "not installed (run --setup-peers)"}
    cmd = [exe, __file__, "--step", name, "--path", str(path)] + (["--detectors", detectors] if detectors else [])
    limit = _peer_memory_limit() if name in PEERS else None

    def cap():  # a peer that would exhaust the machine fails with MemoryError instead of waking the OOM killer
        if limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ},
                             preexec_fn=cap)
    except subprocess.TimeoutExpired:
        return {"step": name, "seconds": None, "peak_rss_mb": None, "note": f"stopped after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        if "MemoryError" in out.stderr and limit:
            last = f"out of memory (address space capped at {limit / 2**30:.0f} GiB) after {wall:.0f} s"
        return {"step": name, "seconds": None, "peak_rss_mb": None, "note": f"failed: {last[:120]}"}
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["seconds"] = round(wall, 2)
    return r


def _peer_memory_limit() -> int | None:
    """Address-space cap for a peer's process: two thirds of the machine's memory."""
    try:
        total = next(int(ln.split()[1]) * 1024 for ln in open("/proc/meminfo") if ln.startswith("MemTotal"))
    except (OSError, StopIteration):
        return None
    return int(total * 2 / 3)


def setup_peers() -> None:
    """One virtual environment per peer under benchmarks/data/venvs, so their pins never touch ours."""
    VENVS.mkdir(parents=True, exist_ok=True)
    for peer in PEERS:
        env = VENVS / peer
        if not env.exists():
            subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
        res = subprocess.run([str(env / "bin" / "pip"), "install", "-q", peer], capture_output=True, text=True)
        print(f"{peer}: {'installed' if res.returncode == 0 else 'FAILED: ' + res.stderr.strip()[-200:]}")


def _versions() -> dict:
    out = {}
    for peer in PEERS:
        exe = _python_for(peer)
        if exe is None:
            continue
        code = (f"import warnings; warnings.simplefilter('ignore'); import importlib.metadata as m, pandas; "
                f"print(m.version('{peer}'), pandas.__version__)")
        r = subprocess.run([exe, "-c", code], capture_output=True, text=True)
        if r.returncode == 0:
            v, pdv = r.stdout.split()
            out[peer] = f"{v} (pandas {pdv})"
    return out


def machine() -> str:
    import numpy
    import pandas
    import pyarrow
    sys.path.insert(0, str(ROOT))
    import biasaudit
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?") \
        if os.path.exists("/proc/cpuinfo") else platform.processor()
    mem = next((int(ln.split()[1]) // 1024 for ln in open("/proc/meminfo") if ln.startswith("MemTotal")), 0) \
        if os.path.exists("/proc/meminfo") else 0
    try:
        import dask
        dv = dask.__version__
    except ImportError:
        dv = "not installed"
    peers = ", ".join(f"{k} {v}" for k, v in _versions().items()) or "none installed"
    return (f"- Date: {datetime.date.today().isoformat()}\n- Machine: {cpu}, {os.cpu_count()} cores, {mem:,} MB RAM, "
            f"{platform.platform(terse=True)}\n- Python {sys.version.split()[0]}; biasaudit {biasaudit.__version__}, "
            f"numpy {numpy.__version__}, pandas {pandas.__version__}, pyarrow {pyarrow.__version__}, dask {dv}\n"
            f"- Peers (own virtual environments): {peers}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    ap.add_argument("--cols", type=int, nargs="+", default=[12])
    ap.add_argument("--levels", type=int, help="levels of the first attribute (default 2)")
    ap.add_argument("--steps", nargs="+", default=list(DEFAULT_STEPS), choices=STEPS)
    ap.add_argument("--profile", action="store_true", help="profile the default scan of the first --rows size")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds before a step is stopped")
    ap.add_argument("--null", action="store_true", help="no planted bias")
    ap.add_argument("--detectors", help="comma-separated detectors (default: all registered)")
    ap.add_argument("--write", help="also write the table (with the machine) to this markdown file")
    ap.add_argument("--setup-peers", action="store_true")
    ap.add_argument("--step", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        print(json.dumps(step(args.step, args.path, args.detectors)))
        return
    if args.setup_peers:
        setup_peers()
        return
    if args.profile:
        profile(str(data_path(args.rows[0], args.cols[0], not args.null, "csv", args.levels)))
        return
    lines = ["| rows | cols | step | wall s | inner s | peak RSS MB | x floor | note |",
             "|---:|---:|---|---:|---:|---:|---:|---|"]
    print("\n".join(lines), flush=True)
    for cols in args.cols:
        for rows in args.rows:
            floor = {}
            for name in args.steps:
                fmt = "parquet" if name.endswith("parquet") else "csv"
                path = data_path(rows, cols, not args.null, fmt, args.levels)
                r = run(name, path, args.timeout, args.detectors)
                if name.startswith("floor"):
                    floor[fmt] = r["seconds"]
                ratio = f"{r['seconds'] / floor[fmt]:.1f}" if r["seconds"] and floor.get(fmt) else ""
                secs = f"{r['seconds']:.2f}" if r["seconds"] is not None else "-"
                inner = f"{r['inner_seconds']:.2f}" if r.get("inner_seconds") is not None else "-"
                peak = f"{r['peak_rss_mb']:,}" if r["peak_rss_mb"] is not None else "-"
                line = f"| {rows:,} | {cols} | {name} | {secs} | {inner} | {peak} | {ratio} | {r['note']} |"
                lines.append(line)
                print(line, flush=True)
    if args.write:
        size = ", ".join(f"{r:,} x {c}: {data_path(r, c, not args.null, 'csv', args.levels).stat().st_size / 1e6:.0f} MB"
                         for c in args.cols for r in args.rows)
        text = (f"{machine()}- Files (CSV): {size}\n- Command: "
                f"`python benchmarks/bench_scale.py {' '.join(sys.argv[1:])}`\n\n" + "\n".join(lines) + "\n")
        Path(args.write).write_text(text)


if __name__ == "__main__":
    main()
