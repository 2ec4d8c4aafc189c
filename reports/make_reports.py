"""Regenerate the example HTML reports in ``reports/`` from the data sets in ``datasets/``, and the
screenshots of their first screen.

Run from the repository root (any folder works; paths are resolved from this file)::

    python reports/make_reports.py                 # every report and screenshot
    python reports/make_reports.py dogs_cats       # one report (and its screenshot)
    python reports/make_reports.py --no-screenshots

Each report is what ``biasaudit scan datasets/<file> --format html -o reports/<name>.html`` writes
with the options listed in ``REPORTS`` (the sensitive attributes of German Credit are those its
documentation names: age, sex, foreign_worker).  The pages carry no timestamp, so rerunning on
the same software gives the same bytes; ``tests/test_html.py`` checks that they are up to date.

Screenshots (``reports/<name>.png``, the first 1280 x 900 CSS pixels, in a palette of 256 colours
to stay small) are taken in headless Chromium over the DevTools protocol (``reports/_chromium.py``);
they depend on the fonts installed, so no test compares their bytes.  Without Chromium they are
skipped with a note.
"""
from __future__ import annotations

import importlib.util
import io
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
#: Reports whose first screen is kept as a PNG.
SCREENSHOTS = ("dogs_cats", "german_credit", "dogs_cats_large")


def audit_for(name: str):
    """The audit result behind ``reports/<name>.html`` (source recorded as ``datasets/<file>``)."""
    import biasaudit
    file, kwargs = REPORTS[name]
    kwargs = dict(kwargs)
    if "reference" in kwargs:
        kwargs["reference"] = biasaudit.load(DATASETS / kwargs["reference"])
    return biasaudit.audit(DATASETS / file, source=f"datasets/{file}", **kwargs)


def chromium_module():
    """``reports/_chromium.py`` as a module (it is not part of the package)."""
    spec = importlib.util.spec_from_file_location("biasaudit_reports_chromium", OUT / "_chromium.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def screenshot(html_path: Path, png_path: Path) -> bool:
    """The first screen of ``html_path`` as a small PNG; False when Chromium is not installed."""
    chromium = chromium_module()
    binary = chromium.find_chromium()
    if binary is None:
        return False
    with chromium.Page(html_path, binary) as page:
        data = page.screenshot()
    from PIL import Image
    image = Image.open(io.BytesIO(data)).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    from biasaudit.report._atomic import atomic_write_bytes
    atomic_write_bytes(png_path, buf.getvalue())
    return True


def main(names=None, *, screenshots: bool = True) -> None:
    from biasaudit.report.html import write_html
    for name in names or REPORTS:
        path = OUT / f"{name}.html"
        write_html(audit_for(name), path)
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.2f} MB)")
        if screenshots and name in SCREENSHOTS:
            png = OUT / f"{name}.png"
            if screenshot(path, png):
                print(f"wrote {png.relative_to(ROOT)} ({png.stat().st_size / 1e3:.0f} kB)")
            else:
                print(f"skipped {png.relative_to(ROOT)}: Chromium not installed (apt-get install chromium)")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(args or None, screenshots="--no-screenshots" not in sys.argv[1:])
