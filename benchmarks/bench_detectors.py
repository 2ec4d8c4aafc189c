"""Per-detector wall time of one audit, on an Adult-like table or any CSV.

The UCI Adult file is not shipped; :func:`make_adult` writes a seeded table with its shape
(32,561 rows x 15 columns: 6 numeric, 8 categorical with Adult's level counts, the income label)
and a few of its dependencies (relationship and marital status with sex, education-num a
function of education, occupation with sex and education, income with all of them).

Usage::

    python benchmarks/bench_detectors.py adult                      # writes benchmarks/data/adult_like.csv
    python benchmarks/bench_detectors.py FILE -l LABEL [-s S ...]   # per-detector seconds

Timings are wall-clock on a shared machine: repeat them before reading much into them.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def make_adult(path: Path, rows: int = 32_561, seed: int = 0) -> Path:
    """Write an Adult-shaped seeded table to ``path`` (CSV) and return the path."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["Male", "Female"], rows, p=[0.67, 0.33])
    male = sex == "Male"
    race = rng.choice(["White", "Black", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other"], rows,
                      p=[0.854, 0.096, 0.032, 0.01, 0.008])
    age = np.clip(rng.normal(38.6, 13.6, rows).round(), 17, 90).astype(int)
    edu_levels = ["Preschool", "1st-4th", "5th-6th", "7th-8th", "9th", "10th", "11th", "12th", "HS-grad",
                  "Some-college", "Assoc-voc", "Assoc-acdm", "Bachelors", "Masters", "Prof-school", "Doctorate"]
    edu_p = np.array([.002, .005, .01, .02, .016, .029, .036, .013, .322, .224, .042, .033, .164, .053, .018, .013])
    edu_num = rng.choice(16, rows, p=edu_p / edu_p.sum())
    education = np.array(edu_levels)[edu_num]
    married = rng.random(rows) < np.where(age < 25, 0.1, 0.55)
    marital = np.where(married, "Married-civ-spouse",
                       rng.choice(["Never-married", "Divorced", "Separated", "Widowed", "Married-spouse-absent",
                                   "Married-AF-spouse"], rows, p=[.6, .25, .06, .06, .025, .005]))
    relationship = np.where(married, np.where(male, "Husband", "Wife"),
                            rng.choice(["Not-in-family", "Own-child", "Unmarried", "Other-relative"], rows,
                                       p=[.5, .3, .15, .05]))
    occ = ["Prof-specialty", "Craft-repair", "Exec-managerial", "Adm-clerical", "Sales", "Other-service",
           "Machine-op-inspct", "Transport-moving", "Handlers-cleaners", "Farming-fishing", "Tech-support",
           "Protective-serv", "Priv-house-serv", "Armed-Forces", "?"]
    occ_m = np.array([12, 18, 13, 7, 11, 8, 7, 7, 5, 4, 3, 2.5, .2, .05, 5])
    occ_f = np.array([14, 2, 10, 25, 12, 17, 5, 1, 2, 1, 3.5, .7, 1, .01, 6.5])
    u = rng.random(rows)
    occupation = np.where(male, np.array(occ)[np.searchsorted(np.cumsum(occ_m) / occ_m.sum(), u)],
                          np.array(occ)[np.searchsorted(np.cumsum(occ_f) / occ_f.sum(), u)])
    workclass = rng.choice(["Private", "Self-emp-not-inc", "Local-gov", "State-gov", "Self-emp-inc",
                            "Federal-gov", "Without-pay", "Never-worked", "?"], rows,
                           p=[.697, .078, .064, .04, .034, .029, .0004, .0002, .0574])
    fnlwgt = rng.lognormal(12, 0.5, rows).round().astype(int)
    countries = ["United-States", "Mexico", "?", "Philippines", "Germany"] + [f"Country-{i}" for i in range(37)]
    cp = np.r_[[.895, .02, .018, .006, .004], np.full(37, 0.057 / 37)]
    native = rng.choice(countries, rows, p=cp / cp.sum())
    hours = np.clip(rng.normal(np.where(male, 42, 36), 11, rows).round(), 1, 99).astype(int)
    logit = -3.2 + 0.35 * (edu_num - 8) + 1.6 * married + 0.03 * (age - 38) + 0.03 * (hours - 40) + 0.3 * male
    rich = rng.random(rows) < 1 / (1 + np.exp(-logit))
    gain = np.where(rng.random(rows) < np.where(rich, 0.2, 0.04), rng.lognormal(8, 1, rows).round(), 0).astype(int)
    loss = np.where(rng.random(rows) < np.where(rich, 0.1, 0.03), rng.normal(1900, 300, rows).round(), 0).astype(int)
    frame = pd.DataFrame({"age": age, "workclass": workclass, "fnlwgt": fnlwgt, "education": education,
                          "education-num": edu_num + 1, "marital-status": marital, "occupation": occupation,
                          "relationship": relationship, "race": race, "sex": sex, "capital-gain": gain,
                          "capital-loss": loss, "hours-per-week": hours, "native-country": native,
                          "income": np.where(rich, ">50K", "<=50K")})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def detector_times(data, **kwargs) -> dict:
    """Seconds per detector (and the total) of ``biasaudit.audit(data, **kwargs)``."""
    import biasaudit
    marks = []

    def progress(name, i, total):
        marks.append((name, time.perf_counter()))

    t0 = time.perf_counter()
    biasaudit.audit(data, progress=progress, **kwargs)
    t1 = time.perf_counter()
    out = {}
    ends = [t for _, t in marks[1:]] + [t1]
    for (name, t), end in zip(marks, ends):
        out[name] = end - t
    out["total (incl. grading and folding after the last detector)"] = t1 - t0
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("-l", "--label")
    p.add_argument("-s", "--sensitive", action="append")
    p.add_argument("--no-probe", action="store_true")
    a = p.parse_args(argv)
    if a.data == "adult":
        print(make_adult(HERE / "data" / "adult_like.csv"))
        return
    for name, sec in detector_times(a.data, label=a.label, sensitive=a.sensitive, probe=not a.no_probe).items():
        print(f"{sec:8.2f} s  {name}")


if __name__ == "__main__":
    main()
