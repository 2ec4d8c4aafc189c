"""Counting engine benchmark: all 2-way tables of a 1,000,000-row, 12-column table.

Compares, each step in a fresh process (time and peak RSS):
  floor         pyarrow.csv.read_csv (just reading the file)
  pandas_read   pandas.read_csv
  encode+count  biasaudit: encode the 12 columns once, then every 2-way table (66) by np.bincount
  groupby       pandas: one groupby().size() per pair (what the engine replaces)

Usage:  python benchmarks/bench_counts.py [--rows 1000000] [--cols 12]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def make(path: Path, rows: int, cols: int, seed: int = 0) -> None:
    import pandas as pd
    rng = np.random.default_rng(seed)
    frame = {f"c{i}": rng.choice([f"v{j}" for j in range(2 + i % 6)], rows) for i in range(cols - 1)}
    frame["label"] = rng.choice(["yes", "no"], rows)
    pd.DataFrame(frame).to_csv(path, index=False)


def step(name: str, path: str) -> dict:
    t0 = time.perf_counter()
    if name == "floor":
        import pyarrow.csv as pacsv
        pacsv.read_csv(path)
    elif name == "pandas_read":
        import pandas as pd
        pd.read_csv(path)
    elif name in ("encode+count", "groupby"):
        import pandas as pd
        df = pd.read_csv(path, engine="pyarrow")
        t0 = time.perf_counter()  # count only, the read is measured above
        cols = list(df.columns)
        if name == "encode+count":
            sys.path.insert(0, str(HERE.parent))
            from biasaudit.engine.counts import encode
            table = encode(df, cols)
            for a, b in combinations(cols, 2):
                table.count(a, b)
        else:
            for a, b in combinations(cols, 2):
                df.groupby([a, b]).size()
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"step": name, "seconds": round(seconds, 3), "peak_rss_mb": round(peak_mb, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--cols", type=int, default=12)
    ap.add_argument("--step")
    ap.add_argument("--path")
    args = ap.parse_args()
    if args.step:
        print(json.dumps(step(args.step, args.path)))
        return
    DATA.mkdir(exist_ok=True)
    path = DATA / f"counts_{args.rows}x{args.cols}.csv"
    if not path.exists():
        make(path, args.rows, args.cols)
    print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB")
    print(f"{'step':<14}{'seconds':>10}{'peak RSS MB':>14}")
    for name in ("floor", "pandas_read", "encode+count", "groupby"):
        out = subprocess.run([sys.executable, __file__, "--step", name, "--path", str(path)],
                             capture_output=True, text=True, check=True, env={**os.environ})
        r = json.loads(out.stdout)
        print(f"{r['step']:<14}{r['seconds']:>10.3f}{r['peak_rss_mb']:>14.1f}")


if __name__ == "__main__":
    main()
