"""Calibration and power of the whole scan (STATISTICS.md §8), the large version of tests/test_calibration.py.

Usage:  python benchmarks/bench_calibration.py [--seeds 200] [--probe]
Prints, for unplanted data, the share of scans with any finding at medium or above (Clopper-Pearson
95 % interval, one-sided binomial p of exceeding alpha), and for planted data the recall per effect.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from biasaudit.tools.calibration import null_rate, permutation_null_rate, planted_recall  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--probe", action="store_true", help="include the classifier probe (slower)")
    args = ap.parse_args()
    out = {}
    t0 = time.perf_counter()
    df = pd.read_csv(Path(__file__).resolve().parents[1] / "datasets" / "dogs_cats.csv")
    out["N1 lecture table, random relabellings"] = permutation_null_rate(df, "species", args.seeds, seed=0,
                                                                           probe=args.probe).to_dict()
    for n in (200, 2000):
        out[f"N2 generator null n={n}"] = null_rate(n, range(10_000, 10_000 + args.seeds), probe=args.probe).to_dict()
    for n in (200, 500):
        out[f"P1 recall n={n}"] = planted_recall(n, range(20_000, 20_000 + args.seeds // 2), probe=args.probe)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
