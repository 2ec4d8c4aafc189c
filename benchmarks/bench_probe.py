"""Benchmark of the probe detector on a 100,000-row, 12-attribute table.

Run ``python benchmarks/bench_probe.py [--rows N] [--memory]``.  Prints the probe's wall time and,
with ``--memory``, a second run's peak traced memory (tracemalloc) and the process's peak RSS.
Target (issue 4): under 10 s on a 2-core machine.

The table: 12 categorical attributes with 2-6 levels; the label depends on ``a0`` and ``a1``
(with 15 % label noise) and on ``background`` through a selection effect (a spurious correlate
the probe should report when ``--non-causal background`` is set, as here).
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from biasaudit.engine.context import AuditContext  # noqa: E402
from biasaudit.engine.counts import encode  # noqa: E402
from biasaudit.detectors.probe import probe  # noqa: E402
from biasaudit.engine.roles import resolve  # noqa: E402
from biasaudit.settings import Settings  # noqa: E402

LEVELS = (2, 3, 4, 5, 6, 2, 3, 4, 5, 6, 3)


def make_table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols = {f"a{i}": np.array([f"v{j}" for j in range(k)])[rng.integers(0, k, n)] for i, k in enumerate(LEVELS)}
    signal = (cols["a0"] == "v1") | (cols["a1"] == "v2")
    y = signal ^ (rng.random(n) < 0.15)
    # background agrees with the label 80 % of the time: a spurious shortcut
    bg = np.where(rng.random(n) < 0.8, np.where(y, "water", "land"), np.where(y, "land", "water"))
    df = pd.DataFrame(cols)
    df["background"] = bg
    df["label"] = np.where(y, "yes", "no")
    return df


def context(df: pd.DataFrame) -> AuditContext:
    frame, roles = resolve(df, label="label")
    table = encode(frame, (roles.label,) + roles.attributes)
    return AuditContext(table=table, roles=roles, settings=Settings(non_causal=("background",)), frame=frame,
                        raw=df, options={})


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--memory", action="store_true", help="also measure peak memory (second run)")
    args = ap.parse_args(argv)
    df = make_table(args.rows)
    ctx = context(df)
    t0 = time.perf_counter()
    res = probe(ctx)
    findings, section = res.findings, res.section
    dt = time.perf_counter() - t0
    m = section["models"]
    print(f"probe on {len(df):,} rows x {df.shape[1] - 1} attributes: {dt:.2f} s "
          f"(tree depth {m['tree']['depth']}, {m['n_patterns']:,} patterns, selection "
          f"{section['selection']['method']}, {len(findings)} findings)")
    if args.memory:
        tracemalloc.start()
        probe(ctx)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak traced memory {peak / 2**20:.0f} MiB; peak RSS of the process {rss:.0f} MiB")


if __name__ == "__main__":
    main()
