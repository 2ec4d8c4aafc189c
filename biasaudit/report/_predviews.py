"""Prediction metrics by group in the HTML report: one table and one chart per attribute.

Private to :mod:`biasaudit.report.html`.  Reads ``sections["predictions"]["prediction_metrics"]``
(one row per attribute and group with TPR, FPR, PPV and the selection rate, each with its Wilson
interval, as the predictions detector writes them).  A missing section means no block.
"""
from __future__ import annotations

from . import plots
from ._fmt import fmt_num, fmt_pct
from .summary import prediction_rows

__all__ = ["prediction_blocks", "prediction_figures", "METRICS"]

METRICS = (("tpr", "TPR"), ("fpr", "FPR"), ("ppv", "PPV"), ("selection_rate", "selection rate"))
MAX_GROUPS = 25


def _cell(r, key) -> str:
    v, lo, hi = r.get(key), r.get(f"{key}_ci_low"), r.get(f"{key}_ci_high")
    if v is None:
        return "–"
    return fmt_pct(v, 1) + (f" [{fmt_pct(lo, 1)}, {fmt_pct(hi, 1)}]" if lo is not None and hi is not None else "")


def prediction_blocks(result) -> list:
    """Table blocks (the template's ``type == "table"``) of the metrics by group."""
    alpha = float(result.settings.get("alpha", 0.05))
    out = []
    for attr, rows in prediction_rows(result).items():
        cols = [{"name": "group", "numeric": False}, {"name": "rows", "numeric": True}] + [
            {"name": f"{title} [{100 * (1 - alpha):g}% interval]", "numeric": True} for _, title in METRICS]
        body = [[str(r["group"]), fmt_num(r.get("n"))] + [_cell(r, k) for k, _ in METRICS]
                for r in rows[:MAX_GROUPS]]
        out.append({"type": "table", "title": f"The model's rates by {attr}", "columns": cols, "rows": body,
                    "text": ("TPR: share of true positives the model finds; FPR: share of negatives it flags; "
                             "PPV: share of the flagged that are positive; selection rate: share flagged. "
                             "Each finding below gives the interval of its difference (Newcombe).")})
    return out


def prediction_figures(result):
    """``(title, figure, alt, caption)`` per attribute."""
    alpha = float(result.settings.get("alpha", 0.05))
    for attr, rows in prediction_rows(result).items():
        rows = rows[:MAX_GROUPS]
        if len(rows) < 2:
            continue
        fig = plots.metric_figure(attr, rows, METRICS, confidence=f"{100 * (1 - alpha):g}%")
        alt = (f"Dot plots of the model's rates by {attr}, one panel per metric: "
               + "; ".join(f"{r['group']}: " + ", ".join(f"{t} {fmt_pct(r.get(k))}" for k, t in METRICS)
                           for r in rows[:12]) + ".")
        caption = (f"Each dot is the rate in one {attr} group, with its {100 * (1 - alpha):g}% Wilson interval. "
                   f"Equal error rates across groups (equalized odds) would put the TPR dots, and the FPR dots, "
                   f"on one vertical line.")
        yield f"The model's rates by {attr}", fig, alt, caption
