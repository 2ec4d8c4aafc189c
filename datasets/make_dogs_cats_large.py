"""Write ``dogs_cats_large.csv`` and ``dogs_cats_reference.csv`` beside this script.

``dogs_cats_large.csv`` is ``biasaudit.tools.simulate.generate_dogs_cats(2000, seed=0, planted=True)``
(STATISTICS.md §10); ``dogs_cats_reference.csv`` holds the analytic pre-selection margins
(``biasaudit.tools.simulate.reference_dogs_cats``). Run: ``python datasets/make_dogs_cats_large.py``.
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
try:
    from biasaudit.tools import simulate
except ImportError:  # not installed: use the checkout this script lives in
    sys.path.insert(0, str(HERE.parent))
    from biasaudit.tools import simulate

N, SEED = 2000, 0
LARGE = HERE / "dogs_cats_large.csv"
REFERENCE = HERE / "dogs_cats_reference.csv"


def main() -> None:
    df = simulate.generate_dogs_cats(N, seed=SEED, planted=True)
    df.to_csv(LARGE, index=False, lineterminator="\n")
    simulate.write_reference_csv(REFERENCE)
    dogs = df["species"] == "DOG"
    planted_zeros = {
        "(DOG, small, white)": dogs & (df["size"] == "small") & (df["color"] == "white"),
        "big CAT": ~dogs & (df["size"] == "big"),
        "multicolour DOG": dogs & (df["multicolor"] == "yes"),
    }
    for name, rows in planted_zeros.items():
        if rows.any():
            raise SystemExit(f"planted zero violated: {int(rows.sum())} {name} rows")
    n_dup = int(df.drop(columns="id").duplicated().sum())
    print(f"{LARGE.name}: {len(df)} rows, {int(dogs.sum())} DOG / {int((~dogs).sum())} CAT, "
          f"{n_dup} duplicates; missing weight DOG {df.loc[dogs, 'weight_kg'].isna().mean():.3f}, "
          f"CAT {df.loc[~dogs, 'weight_kg'].isna().mean():.3f}")
    print(f"{REFERENCE.name}: {len(simulate.reference_dogs_cats())} rows")


if __name__ == "__main__":
    main()
