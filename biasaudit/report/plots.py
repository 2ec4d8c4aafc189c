"""Figures of the HTML report, drawn with :class:`matplotlib.figure.Figure` (never pyplot).

Every builder takes plain numbers (already computed by the audit) and returns a ``Figure``;
:func:`to_svg` turns it into an inline ``<svg>`` element that is deterministic (fixed hash
salt, no date, no comments) and safe to embed (matplotlib escapes text; mathtext is off so a
``$`` in a level name is shown as it is).  Colour is never the only carrier of meaning: points
outside the four-fifths band are hollow and annotated, empty cells are hatched and depleted cells
are outlined and starred.
"""
from __future__ import annotations

import io
import math
import re
import warnings
from typing import Sequence

import matplotlib
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.figure import Figure
from xml.sax.saxutils import escape, quoteattr

__all__ = ["to_svg", "rate_figure", "coverage_figure", "reference_figure", "flip_rate_figure", "metric_figure",
           "FOUR_FIFTHS", "PALETTE"]

FOUR_FIFTHS = 0.8

#: Colour-blind safe (Okabe-Ito based) palette shared with the page's CSS.
PALETTE = {"ink": "#1f2933", "muted": "#6b7785", "grid": "#e3e8ee", "accent": "#0b5cad",
           "warn": "#b5470b", "band": "#e6f2ea", "bandedge": "#5f9e6e", "sample": "#0b5cad",
           "reference": "#b5470b", "empty": "#f0f0f0"}

_RC = {
    "svg.hashsalt": "biasaudit",
    "svg.fonttype": "none",          # text stays text: small, selectable, escaped by matplotlib
    "text.parse_math": False,        # a '$' in a level name is a dollar sign, not TeX
    "font.size": 10,
    "font.family": "sans-serif",
    "axes.edgecolor": "#9aa5b1",
    "axes.labelcolor": PALETTE["ink"],
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "xtick.color": "#52606d",
    "ytick.color": "#52606d",
    "svg.image_inline": True,
}

_FONT_STYLE = re.compile(r"font-family:[^;\"]*;?\s*")
_ID = re.compile(r'\s?\bid="([^"]+)"')
_ATTR_NUM = re.compile(r'(\s(?:d|x|y|x1|x2|y1|y2|cx|cy|r|transform|points|width|height|viewBox)=")([^"]*)"')
_NUM = re.compile(r"-?\d+\.\d+")


def _round(m) -> str:
    """A coordinate to 0.1 pt (a seventh of a pixel): most of an SVG's bytes are digits."""
    v = round(float(m.group(0)), 1)
    return ("%.1f" % v).rstrip("0").rstrip(".") if v != 0 else "0"


def _short(text, width: int = 28) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def to_svg(fig: Figure, *, prefix: str, alt: str) -> str:
    """The figure as an inline ``<svg>`` element with ``role="img"`` and a ``<title>``.

    Element ids are prefixed with ``prefix`` so several figures can share one page; the XML
    prolog, metadata, comments, namespace declarations and font lists are stripped (the page's
    CSS sets the font), which keeps the output small and free of any URL.
    """
    buf = io.StringIO()
    with matplotlib.rc_context(_RC), warnings.catch_warnings():
        # text stays text (svg.fonttype none): the browser draws glyphs matplotlib's font lacks, and a
        # layout that cannot shrink further is still drawn; neither is worth a warning to the user
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
        warnings.filterwarnings("ignore", message=r"constrained_layout not applied", category=UserWarning)
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None,
                                                   "Type": None})
    s = buf.getvalue()
    s = s[s.index("<svg"):]
    s = re.sub(r"<metadata>.*?</metadata>\s*", "", s, flags=re.S)
    s = re.sub(r"<defs>\s*<style[^>]*>[^<]*</style>\s*</defs>\s*", "", s)  # in the page's CSS instead
    s = re.sub(r"<!--.*?-->", "", s, flags=re.S)
    s = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", s)
    s = re.sub(r'\s+version="1\.1"', "", s)
    s = s.replace("xlink:href=", "href=")
    s = _FONT_STYLE.sub("", s)
    s = re.sub(r'style=""\s*', "", s)
    s = _ATTR_NUM.sub(lambda m: m.group(1) + _NUM.sub(_round, re.sub(r"\s+", " ", m.group(2))) + '"', s)
    # keep only the ids something points to (clip paths, marker definitions), prefixed
    referenced = set(re.findall(r"url\(#([^)]+)\)", s)) | set(re.findall(r'href="#([^"]+)"', s))
    s = _ID.sub(lambda m: f' id="{prefix}-{m.group(1)}"' if m.group(1) in referenced else "", s)
    s = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m.group(1)})", s)
    s = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', s)
    # responsive: keep the viewBox, let CSS size the element; add the accessible name
    m = re.match(r'<svg([^>]*?)\swidth="([\d.]+)pt"\s+height="([\d.]+)pt"', s)
    if m:
        w = float(m.group(2)) * 4 / 3
        s = s.replace(m.group(0), f'<svg{m.group(1)} class="plot-svg" style="max-width:{w:.0f}px"', 1)
    head_end = s.index(">") + 1
    s = (s[: head_end - 1] + f' role="img" aria-label={quoteattr(alt)}>' + f"<title>{escape(alt)}</title>"
         + s[head_end:])
    s = re.sub(r">\s+<", "><", s)
    return s.strip()


def _new_figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(width, height), layout="constrained")
    return fig


def rate_figure(attribute: str, rows: Sequence[dict], *, label: str, positive: str,
                reference_group: str | None, overall_rate: float | None, alpha: float = 0.05) -> Figure:
    """Positive-label rate per group with its Wilson interval and the four-fifths band.

    ``rows``: dicts with ``group``, ``n``, ``rate``, ``ci_low``, ``ci_high``.  The shaded band is
    [0.8, 1.25] times the reference group's rate (EEOC four-fifths rule, 29 CFR 1607.4(D), read
    symmetrically); groups outside it are drawn hollow and annotated with their ratio.
    """
    with matplotlib.rc_context(_RC):
        k = len(rows)
        fig = _new_figure(8.2, 1.2 + 0.34 * k)
        ax = fig.add_subplot()
        ref = next((r for r in rows if r["group"] == reference_group), None)
        ref_rate = ref["rate"] if ref is not None else None
        ys = np.arange(k)[::-1]
        if ref_rate:
            lo, hi = FOUR_FIFTHS * ref_rate, min(1.0, ref_rate / FOUR_FIFTHS)
            ax.axvspan(lo, hi, color=PALETTE["band"], zorder=0, lw=0)
            ax.axvline(lo, color=PALETTE["bandedge"], lw=0.8, ls="--", zorder=1)
            if ref_rate / FOUR_FIFTHS <= 1:
                ax.axvline(hi, color=PALETTE["bandedge"], lw=0.8, ls="--", zorder=1)
            ax.axvline(ref_rate, color=PALETTE["bandedge"], lw=1.2, zorder=1)
        if overall_rate is not None and math.isfinite(overall_rate):
            ax.axvline(overall_rate, color=PALETTE["muted"], lw=0.9, ls=":", zorder=1)
        for y, r in zip(ys, rows):
            rate = r["rate"]
            lo_ci, hi_ci = r.get("ci_low"), r.get("ci_high")
            outside = bool(ref_rate) and (rate < FOUR_FIFTHS * ref_rate or rate > ref_rate / FOUR_FIFTHS)
            if lo_ci is not None and hi_ci is not None:
                ax.plot([lo_ci, hi_ci], [y, y], color=PALETTE["ink"], lw=1.3, solid_capstyle="butt", zorder=2)
                ax.plot([lo_ci, lo_ci], [y - 0.15, y + 0.15], color=PALETTE["ink"], lw=1, zorder=2)
                ax.plot([hi_ci, hi_ci], [y - 0.15, y + 0.15], color=PALETTE["ink"], lw=1, zorder=2)
            face = "white" if outside else PALETTE["accent"]
            edge = PALETTE["warn"] if outside else PALETTE["accent"]
            ax.plot([rate], [y], marker="D" if outside else "o", ms=7, mfc=face, mec=edge, mew=1.8, zorder=3)
            note = f"{100 * rate:.0f}%  (n={r['n']:,.0f})"
            if outside and ref_rate:
                note += f"  {rate / ref_rate:.2f}× ref"
            ax.annotate(note, (1.0, y), xycoords=("axes fraction", "data"), xytext=(8, 0),
                        textcoords="offset points", va="center", ha="left", fontsize=9,
                        color=PALETTE["warn"] if outside else PALETTE["ink"])
        ax.set_yticks(ys, [_short(r["group"]) + (" (ref)" if r["group"] == reference_group else "")
                           for r in rows])
        handles = [Line2D([], [], marker="o", ls="none", mfc=PALETTE["accent"], mec=PALETTE["accent"],
                          label="group rate"),
                   Line2D([], [], marker="D", ls="none", mfc="white", mec=PALETTE["warn"], mew=1.8,
                          label="outside the band")]
        if ref_rate:
            handles[1:1] = [Patch(facecolor=PALETTE["band"], edgecolor=PALETTE["bandedge"], ls="--",
                                  label="four-fifths band"),
                            Line2D([], [], color=PALETTE["bandedge"], lw=1.2, label="reference group")]
        if overall_rate is not None and math.isfinite(overall_rate):
            handles.append(Line2D([], [], color=PALETTE["muted"], lw=0.9, ls=":", label="overall"))
        ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=len(handles),
                  frameon=False, fontsize=8.5, borderaxespad=0.3, handlelength=1.6, columnspacing=1.2)
        ax.set_xlim(-0.015, 1.015)
        ax.set_ylim(-0.7, k - 0.3)
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        ax.set_xlabel(f"share with {_short(label, 20)} = {_short(positive, 20)}  "
                      f"(bars: {100 * (1 - alpha):.0f}% Wilson interval)")
        ax.grid(axis="x", color=PALETTE["grid"], lw=0.6, zorder=0)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return fig


def coverage_figure(row_name: str, col_name: str, row_levels: Sequence, col_levels: Sequence,
                    panels: Sequence[tuple], *, depleted_ratio: float = 0.5) -> Figure:
    """Observed vs expected counts of a two-way table, one panel per label value.

    ``panels``: ``(title, observed, expected, support)`` with arrays of shape
    (len(row_levels), len(col_levels)); ``support`` is the number of rows in the cell whatever
    their label.  The fill is observed / expected in seven bins (vector cells, no raster).  Cells
    with no row at all are hatched and marked "none"; cells where the label is missing or depleted
    (the descriptive pattern of STATISTICS.md §1.4: observed <= ``depleted_ratio`` x expected,
    expected >= 0.5 and at least 2 rows) are framed and starred.
    """
    with matplotlib.rc_context(_RC):
        r, c, k = len(row_levels), len(col_levels), len(panels)
        cell_w = 0.85 if c <= 6 else 0.62
        width = min(11.5, 2.6 + k * (0.3 + cell_w * c))
        fig = _new_figure(max(4.2, width), max(2.4, 1.25 + 0.46 * r))
        axes = fig.subplots(1, k, sharey=True, squeeze=False)[0]
        for j, (ax, (title, obs, exp, sup)) in enumerate(zip(axes, panels)):
            obs, exp, sup = (np.asarray(x, dtype=float) for x in (obs, exp, sup))
            for i in range(r):
                for jj in range(c):
                    _coverage_cell(ax, r - 1 - i, jj, obs[i, jj], exp[i, jj], sup[i, jj], depleted_ratio)
            ax.set_xlim(-0.5, c - 0.5)
            ax.set_ylim(-0.5, r - 0.5)
            ax.set_xticks(range(c), [_short(v, 14) for v in col_levels], rotation=30 if c > 4 else 0,
                          ha="right" if c > 4 else "center")
            ax.set_yticks(range(r)[::-1], [_short(v, 18) for v in row_levels])
            ax.tick_params(length=0)
            for side in ax.spines.values():
                side.set_visible(False)
            if title:
                ax.set_title(_short(title, 34), fontsize=10)
            ax.set_xlabel(_short(col_name, 30))
            if j == 0:
                ax.set_ylabel(_short(row_name, 30))
        cmap = ListedColormap(_OE_COLOURS)
        norm = BoundaryNorm(_OE_BOUNDS, cmap.N)
        cb = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), shrink=0.9, aspect=16, pad=0.02)
        cb.set_ticks(_OE_BOUNDS[1:-1], labels=["¼×", "½×", "0.8×", "1.25×", "2×", "4×"])
        cb.set_label("observed / expected", fontsize=9)
        cb.ax.tick_params(labelsize=8.5)
        cb.outline.set_visible(False)
    return fig


# observed / expected in seven bins on a log2 scale: <1/4, 1/4-1/2, 1/2-0.8, 0.8-1.25, 1.25-2, 2-4, >4
_OE_BOUNDS = [-4.0, -2.0, -1.0, math.log2(0.8), math.log2(1.25), 1.0, 2.0, 4.0]
_OE_COLOURS = ["#a63603", "#e6550d", "#fdae6b", "#f7f7f7", "#9ecae1", "#4292c6", "#08519c"]


def _coverage_cell(ax, y, x, obs, exp, sup, depleted_ratio) -> None:
    if sup <= 0:
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor=PALETTE["empty"], hatch="////",
                               edgecolor="#c3cad2", lw=0))
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor="white", lw=2))
        ax.text(x, y, "none", ha="center", va="center", fontsize=8.5, color=PALETTE["muted"])
        return
    ratio = math.log2((obs + 0.5) / (exp + 0.5)) if exp > 0 else 0.0
    b = int(np.clip(np.searchsorted(_OE_BOUNDS, ratio, side="right") - 1, 0, len(_OE_COLOURS) - 1))
    ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor=_OE_COLOURS[b], edgecolor="white", lw=2))
    depleted = sup >= 2 and exp >= 0.5 and obs <= depleted_ratio * exp
    dark = b in (0, 6)
    ax.text(x, y, ("★ " if depleted else "") + f"{obs:,.0f}\n{exp:,.1f}", ha="center", va="center",
            fontsize=9, linespacing=1.15, color="white" if dark else PALETTE["ink"],
            fontweight="bold" if depleted else "normal")
    if depleted:
        ax.add_patch(Rectangle((x - 0.44, y - 0.44), 0.88, 0.88, fill=False, edgecolor=PALETTE["ink"], lw=1.6))


def reference_figure(attribute: str, levels: Sequence, sample: Sequence[float],
                     reference: Sequence[float]) -> Figure:
    """Sample share against the reference (population) share per level, as a dumbbell chart."""
    with matplotlib.rc_context(_RC):
        k = len(levels)
        fig = _new_figure(8.2, 1.2 + 0.34 * k)
        ax = fig.add_subplot()
        ys = np.arange(k)[::-1]
        def outside(s, p):  # the symmetric four-fifths band of representation ratios, [0.8, 1.25]
            return p > 0 and not FOUR_FIFTHS <= s / p <= 1 / FOUR_FIFTHS
        for y, s, p in zip(ys, sample, reference):
            ax.plot([p, s], [y, y], color=PALETTE["warn"] if outside(s, p) else "#9aa5b1",
                    lw=2.6 if outside(s, p) else 2, zorder=1)
        ax.plot(reference, ys, "s", ms=7, mfc="white", mec=PALETTE["reference"], mew=1.8,
                label="reference (population)", zorder=2)
        ax.plot(sample, ys, "o", ms=7, color=PALETTE["sample"], label="this sample", zorder=3)
        for y, s, p in zip(ys, sample, reference):
            ratio = f"  {s / p:.2f}×" if p else ""
            ax.annotate(f"{100 * s:.0f}% vs {100 * p:.0f}%{ratio}" + ("  outside 0.8-1.25" if outside(s, p) else ""),
                        (1.0, y), xycoords=("axes fraction", "data"), xytext=(8, 0), textcoords="offset points",
                        va="center", fontsize=9, color=PALETTE["warn"] if outside(s, p) else PALETTE["ink"])
        ax.set_yticks(ys, [_short(v) for v in levels])
        hi = max([*sample, *reference, 0.05])
        ax.set_xlim(0, min(1.0, hi * 1.15))
        ax.set_ylim(-0.7, k - 0.3)
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        ax.legend(loc="lower left", fontsize=9, frameon=False, bbox_to_anchor=(0.0, 1.0), ncols=2,
                  borderaxespad=0.2)
        ax.set_xlabel(f"share of rows by {_short(attribute, 30)}")
        ax.grid(axis="x", color=PALETTE["grid"], lw=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return fig


def flip_rate_figure(rates: Sequence[dict], *, threshold: float = 0.1, model: str = "tree",
                     other: str = "logistic regression", confidence: str = "95%") -> Figure:
    """Counterfactual flip rate per attribute: the share of predictions that change when only that
    attribute is changed, with its interval, the second model's rate and the warning threshold.

    ``rates``: dicts with ``attribute``, ``rate``, optional ``ci_low``, ``ci_high``, ``other_rate``
    and ``non_causal`` (hatched bar).
    """
    with matplotlib.rc_context(_RC):
        k = len(rates)
        fig = _new_figure(8.2, 1.25 + 0.36 * k)
        ax = fig.add_subplot()
        ys = np.arange(k)[::-1]
        top = threshold
        for y, r in zip(ys, rates):
            rate = r["rate"]
            over = rate > threshold
            ax.barh(y, rate, height=0.56, color=PALETTE["warn"] if over else PALETTE["accent"],
                    hatch="///" if r.get("non_causal") else None, edgecolor="white", lw=0, zorder=2)
            lo, hi = r.get("ci_low"), r.get("ci_high")
            if lo is not None and hi is not None:
                ax.plot([lo, hi], [y, y], color=PALETTE["ink"], lw=1.1, zorder=3)
                for v in (lo, hi):
                    ax.plot([v, v], [y - 0.12, y + 0.12], color=PALETTE["ink"], lw=1, zorder=3)
            if r.get("other_rate") is not None:
                ax.plot([r["other_rate"]], [y], marker="o", ms=6, mfc="white", mec=PALETTE["ink"], mew=1.4,
                        zorder=4)
            end = max(v for v in (rate, hi, r.get("other_rate")) if v is not None)
            top = max(top, end)
            ax.annotate(f"{100 * rate:.0f}%" + ("  non-causal" if r.get("non_causal") else ""), (end, y),
                        xytext=(6, 0), textcoords="offset points", va="center", fontsize=9)
        ax.axvline(threshold, color=PALETTE["ink"], lw=0.9, ls="--", zorder=1)
        handles = [Patch(facecolor=PALETTE["accent"], label=f"{model} (line: {confidence} interval)"),
                   Patch(facecolor=PALETTE["warn"], label=f"above {100 * threshold:.0f}%")]
        if any(r.get("other_rate") is not None for r in rates):
            handles.append(Line2D([], [], marker="o", ls="none", mfc="white", mec=PALETTE["ink"], label=other))
        ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=len(handles), frameon=False,
                  fontsize=8.5, borderaxespad=0.3)
        ax.set_yticks(ys, [_short(r["attribute"]) for r in rates])
        ax.set_xlim(0, min(1.0, top * 1.15 + 0.05))
        ax.set_ylim(-0.7, k - 0.3)
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        ax.set_xlabel(f"predictions that flip when only this attribute changes (dashed: {100 * threshold:.0f}%)")
        ax.grid(axis="x", color=PALETTE["grid"], lw=0.6, zorder=0)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return fig


def metric_figure(attribute: str, rows: Sequence[dict], metrics: Sequence[tuple], *,
                  confidence: str = "95%") -> Figure:
    """A model's error and selection rates by group: one panel per metric, each rate with its interval.

    ``rows``: dicts with ``group`` and, for each ``(key, title)`` of ``metrics``, ``key``,
    ``key_ci_low`` and ``key_ci_high`` (None where the group has no such rows).
    """
    with matplotlib.rc_context(_RC):
        k = len(rows)
        fig = _new_figure(8.2, 1.2 + 0.3 * k)
        axes = fig.subplots(1, len(metrics), sharey=True)
        ys = np.arange(k)[::-1]
        for ax, (key, title) in zip(np.atleast_1d(axes), metrics):
            for y, r in zip(ys, rows):
                v, lo, hi = r.get(key), r.get(f"{key}_ci_low"), r.get(f"{key}_ci_high")
                if v is None:
                    continue
                if lo is not None and hi is not None:
                    ax.plot([lo, hi], [y, y], color=PALETTE["ink"], lw=1.2, zorder=2)
                ax.plot([v], [y], marker="o", ms=5.5, color=PALETTE["accent"], zorder=3)
            ax.set_title(title, fontsize=9.5)
            ax.set_xlim(-0.03, 1.03)
            ax.set_xticks([0, 0.5, 1])
            ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
            ax.grid(axis="x", color=PALETTE["grid"], lw=0.6, zorder=0)
            ax.set_axisbelow(True)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
        first = np.atleast_1d(axes)[0]
        first.set_yticks(ys, [_short(f"{attribute}={r['group']}", 24) for r in rows])
        first.set_ylim(-0.7, k - 0.3)
        fig.supxlabel(f"rate by group (lines: {confidence} Wilson interval)", fontsize=9)
    return fig
