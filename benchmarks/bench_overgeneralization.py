"""Time the overgeneralization detector alone (roles and encoding excluded) on one table.

Usage::

    python benchmarks/bench_overgeneralization.py scale:100000x12            # bench_scale.make() table
    python benchmarks/bench_overgeneralization.py scale:100000x12 --wide 500 # c0 with 500 levels
    python benchmarks/bench_overgeneralization.py /work/shared/data/law_school/law_school_clean.csv pass_bar
    python benchmarks/bench_overgeneralization.py PATH LABEL --profile 25     # top cProfile entries
    python benchmarks/bench_overgeneralization.py PATH LABEL --show 5         # first findings (graded)

The wall time of the detector call is printed (``perf_counter``; noisy on a shared machine).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def context(source: str, label: str | None, wide: int = 0, **settings):
    import pandas as pd
    from biasaudit.engine.context import AuditContext
    from biasaudit.engine.counts import encode
    from biasaudit.engine.roles import resolve
    from biasaudit.loaders import load
    from biasaudit.settings import Settings
    if source.startswith("scale:"):
        from bench_scale import make
        rows, cols = (int(x) for x in source[6:].split("x"))
        path = HERE / "data" / f"og_{rows}x{cols}{f'_w{wide}' if wide else ''}.csv"
        path.parent.mkdir(exist_ok=True)
        if not path.exists():
            levels = [2 + i % 6 for i in range(cols - 1)]
            if wide:
                levels[0] = wide
            make(path, rows, cols, levels=levels)
        raw, label = pd.read_csv(path), label or "label"
    else:
        raw = load(source)
    frame, roles = resolve(raw, label=label, max_levels=settings.get("max_levels", 50))
    table = encode(frame, (roles.label,) + roles.attributes, weight=roles.weight)
    return AuditContext(table=table, roles=roles, settings=Settings(**settings), frame=frame, raw=raw,
                        options={})


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source")
    ap.add_argument("label", nargs="?")
    ap.add_argument("--profile", type=int, default=0)
    ap.add_argument("--show", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--k-max", type=int, default=None)
    ap.add_argument("--wide", type=int, default=0, help="levels of c0 in a scale: table")
    ap.add_argument("--max-levels", type=int, default=50)
    a = ap.parse_args(argv)
    from biasaudit.detectors.overgeneralization import overgeneralization
    ctx = context(a.source, a.label, a.wide, k_max=a.k_max, max_levels=a.max_levels)
    print(f"{a.source}: {ctx.table.n:,.0f} rows, {len(ctx.roles.attributes)} attributes, label {ctx.roles.label}")
    if a.profile:
        import cProfile
        import pstats
        prof = cProfile.Profile()
        prof.enable()
        res = overgeneralization(ctx)
        found, section = res.findings, res.section
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(a.profile)
    times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        res = overgeneralization(ctx)
        found, section = res.findings, res.section
        times.append(time.perf_counter() - t0)
    cov = section["coverage"]
    print(f"overgeneralization: {min(times):.3f} s (best of {a.repeat}; all {', '.join(f'{t:.3f}' for t in times)}); "
          f"{len(found)} findings, {cov['cells']} cells, {cov['hypotheses']} hypotheses, k_max {cov['k_max']}")
    if a.show:
        from biasaudit.audit import grade
        graded, _, _ = grade(list(found), ctx.settings)
        shown = [f for f in graded if f.explained_by is None and not (f.details or {}).get("hidden")]
        for f in shown[:a.show]:
            print(f"  [{f.severity}] {f.message}")


if __name__ == "__main__":
    main()
