"""Image attribute extraction benchmark: images per second on generated 256x256 JPEGs.

Writes ``--n`` seeded JPEGs (two classes, a coloured background with noise and a shape in the
centre) to a temporary folder, then times ``biasaudit.load(folder)`` (listing, decoding with
``draft()``, pixel attributes and probe features) with 1 and with ``--workers`` threads, without
probe features, and, for comparison, a process pool over the same per-file function.  Each
variant is run ``--repeat`` times; the best run is reported (the machine may be shared).

Usage:  python benchmarks/bench_images.py [--n 1000] [--size 256] [--workers 2] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import biasaudit as ba  # noqa: E402
from biasaudit.loaders.images import _read_one  # noqa: E402


def make(root: Path, n: int, size: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        cls = "a" if i % 2 else "b"
        (root / cls).mkdir(exist_ok=True)
        bg = np.array((40, 90, 170) if rng.random() < (0.9 if cls == "a" else 0.1) else (60, 140, 50), float)
        ramp = np.linspace(-30, 30, size)[:, None, None]
        pixels = np.clip(bg + ramp + rng.normal(0, 15, (size, size, 3)), 0, 255).astype(np.uint8)
        im = Image.fromarray(pixels)
        draw = ImageDraw.Draw(im)
        x0, y0 = (int(v) for v in rng.integers(size // 4, size // 2, 2))
        draw.ellipse([x0, y0, x0 + size // 4, y0 + size // 3], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        im.save(root / cls / f"{i:05d}.jpg", quality=90)


def best_rate(fn, n: int, repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = max(best, n / (time.perf_counter() - t0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_images_") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        make(root, args.n, args.size)
        made = time.perf_counter() - t0
        files = sorted(str(p) for p in root.rglob("*.jpg"))
        rates = {
            "threads_1": best_rate(lambda: ba.load(root, workers=1), args.n, args.repeat),
            f"threads_{args.workers}": best_rate(lambda: ba.load(root, workers=args.workers), args.n, args.repeat),
            f"threads_{args.workers}_no_probe_features": best_rate(
                lambda: ba.loaders.images.extract_attributes(files, features=False, workers=args.workers),
                args.n, args.repeat),
        }

        def processes():
            with ProcessPoolExecutor(args.workers) as pool:
                list(pool.map(_read_one, [(f, True) for f in files], chunksize=32))
        rates[f"processes_{args.workers}"] = best_rate(processes, args.n, args.repeat)
        df = ba.load(root)
    out = {"images": args.n, "size": args.size, "cpus": os.cpu_count(), "workers": args.workers,
           "generate_seconds": round(made, 2), "images_per_second": {k: round(v) for k, v in rates.items()},
           "images_per_minute_default": round(60 * rates[f"threads_{args.workers}"]),
           "columns": list(df.columns)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
