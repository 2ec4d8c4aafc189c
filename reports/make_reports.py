"""Regenerate the example HTML reports in ``reports/`` from the data sets in ``datasets/``.

Run from the repository root (any folder works; paths are resolved from this file)::

    python reports/make_reports.py

Each report is what ``biasaudit scan datasets/<file> --format html -o reports/<name>.html`` writes
with the options listed in ``REPORTS`` (the sensitive attributes of German Credit are those its
documentation names: age, sex, foreign_worker).  The pages carry no timestamp, so rerunning on
the same software gives the same bytes; ``tests/test_html.py`` checks that they are up to date.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "datasets"
OUT = ROOT / "reports"

#: report name -> (data file, keyword arguments of biasaudit.audit.run; "reference" is a file in datasets/)
REPORTS = {
    "kuri_pusi": ("kuri_pusi.csv", {"label": "label"}),
    "dogs_cats": ("dogs_cats.csv", {"label": "species"}),
    "dogs_cats_large": ("dogs_cats_large.csv", {"label": "species", "reference": "dogs_cats_reference.csv"}),
    "german_credit": ("german_credit.csv", {"label": "credit", "sensitive": ["age", "sex", "foreign_worker"]}),
}


def audit_for(name: str):
    """The audit result behind ``reports/<name>.html`` (source recorded as ``datasets/<file>``)."""
    import biasaudit
    file, kwargs = REPORTS[name]
    kwargs = dict(kwargs)
    if "reference" in kwargs:
        kwargs["reference"] = biasaudit.load(DATASETS / kwargs["reference"])
    return biasaudit.audit(DATASETS / file, source=f"datasets/{file}", **kwargs)


def main(names=None) -> None:
    from biasaudit.report.html import write_html
    for name in names or REPORTS:
        path = OUT / f"{name}.html"
        write_html(audit_for(name), path)
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main(sys.argv[1:] or None)
