"""Decode the Statlog German Credit data into ``german_credit.csv`` beside this script.

Source: UCI Machine Learning Repository, "Statlog (German Credit Data)", Prof. Hans Hofmann,
Universität Hamburg, 1994; licence CC BY 4.0. The raw ``german.data`` (symbolic codes A11...)
and ``values_maps.json`` (code -> text, from UCI ``german.doc``) are read from
``<shared>/data/german_credit/``. Run: ``python datasets/make_german_credit.py [SOURCE_DIR]``.

Output: 1000 rows; the 20 attributes with readable names and decoded values (whitespace trimmed),
a derived ``sex`` (female if personal_status is A92 or A95, else male; unreliable, see Grömping 2019),
and the label ``credit`` (good/bad) last.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parents[1] / "shared" / "data" / "german_credit"
OUTPUT = HERE / "german_credit.csv"

#: Column names in file order, and the key of values_maps.json that decodes each coded column.
COLUMNS = {
    "status": "status", "duration_months": None, "credit_history": "credit_history",
    "purpose": "purpose", "credit_amount": None, "savings": "savings",
    "employment_since": "present_employment", "installment_rate": None,
    "personal_status": "status_sex", "other_debtors": "other_debtors", "residence_since": None,
    "property": "property", "age": None, "other_installment_plans": "installment_plans",
    "housing": "housing", "existing_credits": None, "job": "job", "num_dependents": None,
    "telephone": "telephone", "foreign_worker": "foreign_worker", "credit": "credit",
}
FEMALE_CODES = ("A92", "A95")


def _word(value) -> str:
    """A decoded value as trimmed text; the JSON booleans (telephone, foreign_worker) become yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).strip()


def build(source: Path = DEFAULT_SOURCE) -> pd.DataFrame:
    """Read the raw codes from ``source`` and return the decoded frame."""
    raw = pd.read_csv(source / "german.data", sep=" ", header=None, names=list(COLUMNS), dtype=str)
    if raw.shape != (1000, 21):
        raise SystemExit(f"expected 1000 x 21 in {source / 'german.data'}, got {raw.shape}")
    maps = json.loads((source / "values_maps.json").read_text(encoding="utf-8"))
    out = pd.DataFrame(index=raw.index)
    for column, key in COLUMNS.items():
        if key is None:
            out[column] = raw[column].astype(int)
            continue
        table = {code: _word(text) for code, text in maps[key].items()}
        unknown = set(raw[column]) - set(table)
        if unknown:
            raise SystemExit(f"column {column}: codes {sorted(unknown)} missing from values_maps.json")
        out[column] = raw[column].map(table)
    out.insert(out.columns.get_loc("credit"), "sex",
               raw["personal_status"].isin(FEMALE_CODES).map({True: "female", False: "male"}))
    return out


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else DEFAULT_SOURCE
    df = build(source)
    df.to_csv(OUTPUT, index=False, lineterminator="\n")
    print(f"{OUTPUT.name}: {len(df)} rows, credit {df['credit'].value_counts().to_dict()}, "
          f"sex {df['sex'].value_counts().to_dict()}")


if __name__ == "__main__":
    main(sys.argv[1:])
