"""The HTML report: escaping, embedded JSON, determinism, self-containment, size, structure.

Oracles: the stdlib ``html.parser`` (what a browser would see as elements), ``json.loads`` of the
embedded script, pandas counts computed here from the CSV, and hand-computed expected counts.
The real-browser checks are in ``test_html_browser.py``.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
import re
from html.parser import HTMLParser

import markupsafe
import numpy as np
import pandas as pd
import pytest

import biasaudit
from biasaudit.findings import AuditResult, Finding
from biasaudit.report.html import FILTER_SCRIPT, embed_json, render_html, rounded, write_html
from biasaudit.report import summary as S
from oracles import newcombe
from conftest import DATASETS, ROOT, load_compas

MB = 1_000_000
PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(2)>",
    "</script><script>alert(3)</script>",
    "<!-- x -->",
    "{{7*7}} & $\\alpha$",
    "日本語 ★ 😀",
]


# ------------------------------------------------------------------ helpers
class Elements(HTMLParser):
    """Every start tag with its attributes, and the text of each <script>, as a browser parses them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.scripts, self._in_script = [], [], None
        self.headings, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = [dict(attrs), ""]
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag == "script" and self._in_script is not None:
            self.scripts.append(tuple(self._in_script))
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None:
            self._in_script[1] += data
        else:
            self.text.append(data)


def page(html: str) -> str:
    """The page without its embedded JSON (what is shown)."""
    return html[: html.index('<script type="application/json"')]


def parse(html: str) -> Elements:
    p = Elements()
    p.feed(html)
    p.close()
    return p


def embedded(html: str) -> dict:
    scripts = [s for s in parse(html).scripts if s[0].get("id") == "biasaudit-result"]
    assert len(scripts) == 1
    return json.loads(scripts[0][1])


@functools.lru_cache(maxsize=None)
def dogs_cats() -> tuple:
    result = biasaudit.audit(DATASETS / "dogs_cats.csv", label="species", source="datasets/dogs_cats.csv")
    return result, render_html(result)


@functools.lru_cache(maxsize=None)
def compas_report() -> tuple:
    """COMPAS (ProPublica filter) audited for race, sex and age_cat; shared with the browser test."""
    result = biasaudit.audit(load_compas(), label="two_year_recid", sensitive=["race", "sex", "age_cat"],
                             source="compas-scores-two-years.csv (ProPublica filter)")
    return result, render_html(result)


def _make_reports_module():
    spec = importlib.util.spec_from_file_location("make_reports", ROOT / "reports" / "make_reports.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def assert_self_contained(html: str) -> None:
    """No URL, no external resource: only data: URIs and in-page #fragments may be referenced."""
    assert not re.search(r"https?://", html, re.IGNORECASE), re.search(r".{40}https?://.{40}", html).group(0)
    assert not re.search(r"//[a-z0-9.-]+\.[a-z]{2,}/", html, re.IGNORECASE)
    for tag, attrs in parse(html).tags:
        for name in ("src", "href", "srcset", "action", "data", "poster", "background"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("#", "data:")), (tag, name, value)
        assert tag not in ("link", "iframe", "object", "embed", "base", "img", "audio", "video"), tag
    assert "@import" not in html
    assert all(u.startswith("#") for u in re.findall(r"url\(([^)]*)\)", html)), "url() to a non-fragment"


# ------------------------------------------------------------------ escaping and embedded JSON
def test_embed_json_cannot_close_its_element():
    value = {"a": "</script><script>alert(1)</script>", "b": "x\u2028y\u2029z & <!--", "c": [1.5, None]}
    text = embed_json(json.dumps(value, ensure_ascii=False))
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\u2028" not in text and "\u2029" not in text
    assert json.loads(text) == value


@pytest.fixture(scope="module")
def xss():
    rng = np.random.default_rng(0)
    n = 60
    df = pd.DataFrame({
        PAYLOADS[0]: rng.choice(PAYLOADS[:3], n),
        PAYLOADS[1]: rng.choice(PAYLOADS[3:], n),
        "plain": rng.choice(["a", "b"], n),
        "label": rng.choice(['<b>bad</b>', "ok&amp;'\""], n),
    })
    df.loc[df[PAYLOADS[0]] == PAYLOADS[0], "label"] = "<b>bad</b>"  # a pattern, so findings carry the names
    result = biasaudit.audit(df, label="label", source="<script>alert('source')</script>.csv")
    return result, render_html(result)


def test_xss_values_appear_only_as_text(xss):
    result, html = xss
    for p in PAYLOADS + ["<b>bad</b>", "<script>alert('source')</script>"]:
        if "<" in p:
            assert p not in html, p
    # every payload that is a column name or value is shown, escaped, somewhere in the page
    for p in PAYLOADS:
        assert str(markupsafe.escape(p)) in html or p.replace("<", "&lt;").replace(">", "&gt;") in html, p
    doc = parse(html)
    assert [t for t, _ in doc.tags if t == "img"] == []
    assert all(not k.lower().startswith("on") for _, attrs in doc.tags for k in attrs)
    scripts = doc.scripts
    assert len(scripts) == 2 and scripts[0][0] == {"type": "application/json", "id": "biasaudit-result"}
    assert scripts[1] == ({}, FILTER_SCRIPT)  # the only executable script is the filter, unchanged by data
    assert "foreignobject" not in {t for t, _ in doc.tags}


def test_xss_embedded_json_round_trips(xss):
    result, html = xss
    assert embedded(html) == rounded(result.to_dict())


def test_dogs_cats_embedded_json_is_the_result():
    result, html = dogs_cats()
    assert embedded(html) == rounded(result.to_dict())
    _close(embedded(html), result.to_dict(), rel=1e-6)  # numbers to 7 significant digits


def test_csp_allows_only_the_filter_script():
    """script-src names exactly the SHA-256 of the page's one inline script (computed here)."""
    import base64
    import hashlib
    html = dogs_cats()[1]
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'" and "connect-src" not in directives  # no fetch, no beacon
    script = parse(html).scripts[1][1]
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    assert directives["script-src"] == f"'sha256-{digest}'"
    assert "unsafe-inline" not in directives["script-src"] and "unsafe-eval" not in csp


# ------------------------------------------------------------------ determinism, self-containment, size
def test_two_renders_are_byte_identical():
    result, html = dogs_cats()
    assert render_html(result) == html
    again = biasaudit.audit(DATASETS / "dogs_cats.csv", label="species", source="datasets/dogs_cats.csv")
    assert render_html(again) == html


def test_timestamp_only_when_asked():
    result, html = dogs_cats()
    assert not re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", html)
    stamped = render_html(result, timestamp=True)
    assert re.search(r"Made by biasaudit \S+ on \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", stamped)


def test_dogs_cats_is_self_contained_and_small():
    html = dogs_cats()[1]
    assert_self_contained(html)
    assert len(html.encode("utf-8")) < 1 * MB


def test_compas_is_self_contained_and_under_3_mb():
    html = compas_report()[1]
    assert_self_contained(html)
    assert len(html.encode("utf-8")) < 3 * MB


# ------------------------------------------------------------------ content
def test_header_and_every_visible_finding_is_shown():
    result, html = dogs_cats()
    df = pd.read_csv(DATASETS / "dogs_cats.csv")
    text = " ".join(html.split())
    assert "14 rows · label <code>species</code>" in text
    assert f"DOG {(df.species == 'DOG').sum()} ({100 * (df.species == 'DOG').mean():.0f}%)" in html
    assert f"{result.family_size} hypotheses, {result.n_testable} testable at n = 14" in text
    parent_of = S.parents(result)
    for f in S.visible(result):
        shown = str(markupsafe.escape(f.message)) in html
        if f.id in parent_of and not shown:  # a long narrower finding is shown by its key sentence
            shown = str(markupsafe.escape(S.short_sentence(f, 200))) in html
        assert shown, f.id
    for sev, n in result.counts_by_severity().items():
        if n:
            assert f"{n} {sev}" in html
    method = page(html)[page(html).index('id="method"'):]
    for rule in biasaudit.stats.SEVERITY_RULES:
        assert str(markupsafe.escape(rule["rule"] if isinstance(rule, dict) else rule.description)) in method
    for test in {f.test for f in result.findings if f.test}:
        assert str(markupsafe.escape(test)) in method
    assert "Random seed</dt><dd>0 " in method


def test_no_citation_of_files_outside_the_project():
    for html in (dogs_cats()[1], render_html(dogs_cats()[0])):
        shown = page(html)
        assert "STATISTICS.md" not in shown and "§" not in shown and "DESIGN.md" not in shown


def test_evidence_is_collapsed_and_summary_comes_first():
    result, html = dogs_cats()
    shown = page(html)
    assert shown.index('id="summary"') < shown.index('id="evidence"') < shown.index('id="method"')
    cards = re.findall(r'<details class="card[^"]*"[^>]*>', shown)
    assert len(cards) == len([f for f in S.visible(result) if f.id not in S.parents(result)])
    assert not any(" open" in c for c in cards)
    assert not re.search(r'<details class="figs"[^>]* open', shown)


def _ints(pattern, text):
    return [int(x.replace(",", "")) for x in re.findall(pattern, text)]


@pytest.mark.parametrize("which", ["dogs_cats", "synthetic"])
def test_counts_agree_between_tiles_summary_and_sections(which, synthetic):
    result, html = dogs_cats() if which == "dogs_cats" else synthetic[:2]
    shown = " ".join(page(html).split())
    vis = [f for f in result.findings if not (f.details and f.details.get("hidden"))]
    by_sev = {s: sum(1 for f in vis if f.severity == s) for s in biasaudit.settings.SEVERITY_ORDER}
    established = sum(by_sev[s] for s in ("critical", "high", "medium", "low"))
    tiles = dict(re.findall(r'<div class="lbl">([^<]+)</div><div class="big">([\d,]+)</div>', shown))
    assert int(tiles["Established"]) == established
    assert int(tiles["Seen, not established"]) == by_sev["weak-evidence"] + by_sev["insufficient-data"]
    assert int(tiles["Information"]) == by_sev["info"]
    assert int(tiles["Hypotheses tested"].replace(",", "")) == result.family_size
    headline = f"{len(vis)} finding{'s' if len(vis) != 1 else ''}: " + ", ".join(
        f"{n} {s}" for s, n in by_sev.items() if n)
    assert headline in shown
    nav = page(html)[page(html).index('<nav class="toc"'):page(html).index("</nav>")]
    assert _ints(r'href="#evidence">Evidence</a> <span class="count">\((\d+)\)', nav) == [len(vis)]
    sections = _ints(r'href="#sec-[a-z_]+">[^<]+</a> <span class="count">\((\d+)\)', nav)
    assert sum(sections) == len(vis)
    sev_filters = dict((s, int(n)) for s, n in re.findall(
        r'name="sev" value="([a-z-]+)"[^>]*> <span class="badge sev-[a-z-]+">[a-z-]+</span> (\d+)', shown))
    assert sev_filters == {s: n for s, n in by_sev.items() if n}
    assert f'data-total="{len(vis)}"' in shown
    # every visible finding is one card or one narrower line, with its severity for the filter
    items = re.findall(r'<(?:details class="card|li class="kid)[^>]*data-sev="([a-z-]+)"', page(html))
    assert sorted(items) == sorted(f.severity for f in vis)


def test_multiclass_weighted_data_render_without_warnings():
    rng = np.random.default_rng(1)
    n = 300
    df = pd.DataFrame({"g": rng.choice(list("abcdefghijklmno"), n), "h": rng.choice(["x", "y", None], n),
                       "num": rng.normal(size=n), "w": rng.integers(1, 5, n),
                       "y": rng.choice(["A", "B", "C"], n, p=[0.6, 0.3, 0.1])})
    result = biasaudit.audit(df, label="y", weight="w", probe=False)
    html = render_html(result)  # filterwarnings = error: any warning fails here
    assert embedded(html) == rounded(result.to_dict())
    assert_self_contained(html)


def test_rate_plot_states_the_rates_of_the_data():
    html = dogs_cats()[1]
    df = pd.read_csv(DATASETS / "dogs_cats.csv")
    labels = re.findall(r'<svg[^>]* aria-label="([^"]*share of species=DOG for each size group[^"]*)"', html)
    assert len(labels) == 1
    for size, g in df.groupby("size"):
        assert f"{size}: {100 * (g.species == 'DOG').mean():.0f}% of {len(g)}" in labels[0]
    assert "Outside the four-fifths band of the reference group: big" in labels[0]  # 3/3 vs 3/11


def test_accessible_structure():
    html = dogs_cats()[1]
    doc = parse(html)
    assert doc.headings[0] == 1 and doc.headings.count(1) == 1
    assert all(b <= a + 1 for a, b in zip(doc.headings, doc.headings[1:])), doc.headings
    svgs = [a for t, a in doc.tags if t == "svg"]
    assert svgs and all(a.get("role") == "img" and len(a.get("aria-label", "")) > 20 for a in svgs)
    assert html.count("<svg") == html.count("<title>") - 1  # one <title> per plot + the page title
    assert '<html lang="en">' in html
    assert html.count("<table") == html.count("<thead>")
    ids = [a["id"] for _, a in doc.tags if "id" in a]
    assert len(ids) == len(set(ids)), "duplicate element ids"


def _finding(fid, bias_type, message, **kw):
    base = dict(id=fid, bias_type=bias_type, detector=bias_type, attributes={"a": "x"}, message=message)
    base.update(kw)
    return Finding(**base)


@pytest.fixture(scope="module")
def synthetic():
    """A hand-made result exercising every block: folding, hidden, info, reference, coverage, probe."""
    observed = [[[2, 0], [3, 3]], [[0, 4], [0, 0]]]  # a x b x label (CAT, DOG)
    findings = (
        _finding("gap:parent", "overgeneralization", "PARENT-GAP sentence.", severity="high", kind="gap",
                 p_value=0.001, p_adjusted=0.004, effect_size=0.0, effect_size_name="depletion_ratio",
                 evidence=({"cell": "a=x", "support": 4, "observed": 0, "expected": 2.0},)),
        _finding("gap:child", "overgeneralization", "CHILD-GAP sentence.", severity="medium", kind="gap",
                 explained_by="gap:parent"),
        _finding("gap:hidden", "overgeneralization", "HIDDEN sentence.", kind="cell_test",
                 details={"hidden": True}),
        _finding("exist", "overgeneralization", "INFO-EXISTENCE sentence.", kind="existence"),
        _finding("rep", "selection", "REPRESENTATION sentence.", kind="representation", severity="medium",
                 attributes={"region": None},
                 evidence=({"value": "north", "n": 30, "share": 0.75, "reference_share": 0.5},
                           {"value": "south", "n": 10, "share": 0.25, "reference_share": 0.5})),
    )
    probe = {"rules": [{"conditions": [["size", "=", ["small"]], ["color", "≠", ["brown"]]], "label": "CAT",
                        "support": 7, "count": 7, "p_selection_adjusted": 0.0063, "spurious": True,
                        "reasons": {"non_causal": ["color"]}},
                       {"conditions": [["size", "=", ["big"]]], "label": "DOG", "support": 3, "count": 3,
                        "supported": False, "testable": False, "reasons": {"unsupported": True}}],
             "flips": [{"attribute": "size", "tree": {"rate": 0.64, "ci_low": 0.4, "ci_high": 0.8}},
                       {"attribute": "color", "non_causal": True, "tree": {"rate": 0.39}}],
             "unseen": [{"combination": {"size": "big", "color": "red"}, "tree_label": "DOG", "tree_p": 1.0,
                         "confident": True}]}
    sections = {"coverage_tables": {"label": "y", "label_values": ["CAT", "DOG"],
                                    "tables": [{"attributes": ["a", "b"], "levels": [["a1", "a2"], ["b1", "b2"]],
                                                "observed": observed}]},
                "probe": probe, "method": {"correction": "Benjamini-Hochberg", "alpha": 0.05, "random_state": 7}}
    groups = pd.DataFrame({"attribute": ["a", "a"], "group": ["x", "z"], "n": [4, 8], "share": [1 / 3, 2 / 3],
                           "rate:CAT": [0.5, 0.5], "rate:DOG": [0.5, 0.5]})
    dataset = {"source": "synthetic.csv", "n_rows": 12, "n_rows_audited": 12, "label": "y", "positive": "DOG",
               "label_values": ["CAT", "DOG"], "label_counts": {"CAT": 5, "DOG": 7}, "sensitive": ["a"],
               "attributes": ["a", "b"], "columns": [], "derived": {}, "bins": {}, "excluded": {}, "notes": []}
    result = AuditResult(dataset=dataset, settings={"alpha": 0.05, "correction": "bh", "random_state": 7},
                         groups=groups, findings=findings, family_size=3, n_testable=2, sections=sections,
                         tool={"name": "biasaudit", "version": "test"})
    return result, render_html(result), np.array(observed, dtype=float)


def test_folded_findings_sit_under_their_parent(synthetic):
    html = page(synthetic[1])
    parent, child = html.index("PARENT-GAP sentence."), html.index("CHILD-GAP sentence.")
    box = html.index('<ul class="kids">', parent)
    assert parent < box < child < html.index("</details>", parent)
    assert html.count("CHILD-GAP sentence.") == 1


def test_hidden_findings_are_counted_not_shown(synthetic):
    result, html, _ = synthetic
    assert "HIDDEN sentence." not in page(html)
    assert "1 uninformative observation counted, not shown" in html
    assert embedded(html) == rounded(result.to_dict())  # still in the data


def test_info_findings_are_collapsed(synthetic):
    _, html, _ = synthetic
    pos = html.index("INFO-EXISTENCE sentence.")
    opened = html.rfind('<details class="card sev-info"', 0, pos)
    assert opened != -1 and html.rfind("</details>", opened, pos) == -1
    assert " open" not in html[opened:html.index(">", opened)]


def test_reference_plot_shows_sample_and_reference_shares(synthetic):
    _, html, _ = synthetic
    assert "north: 75% in the sample vs 50%" in html and "south: 25% in the sample vs 50%" in html


def test_coverage_heatmap_marks_empty_and_missing_cells(synthetic):
    _, html, obs = synthetic
    svg = re.search(r'<svg[^>]*aria-label="Heatmaps of a by b[^"]*".*?</svg>', html, re.S).group(0)
    texts = [t.replace("★ ", "") for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
    n_label = obs.sum(axis=(0, 1))
    expected = obs.sum(axis=2)[:, :, None] * n_label / obs.sum()  # E = support x n_L / n (§3.2)
    for i, j, k in np.ndindex(obs.shape):
        if obs[i, j].sum() > 0:
            assert f"{expected[i, j, k]:.1f}" in texts, (i, j, k)
    assert texts.count("none") == 2  # a2 x b2 has no row, in both label panels
    alt = re.search(r'aria-label="(Heatmaps of a by b[^"]*)"', svg).group(1)
    assert "a=a2, b=b1: no CAT" in alt  # 0 of 4 where 4 x 5/12 = 1.67 were expected
    assert "a=a1, b=b1: no DOG" in alt  # 0 of 2 where 2 x 7/12 = 1.17 were expected
    assert "a=a1, b=b2" not in alt


def test_probe_tree_and_flip_rates(synthetic):
    _, html, _ = synthetic
    assert "size = small" in html and "color ≠ brown" in html and "size = big" in html
    assert html.index("size = small") < html.index("color ≠ brown")
    assert "uses color, marked non-causal" in html
    assert "size: 64%; color: 39%" in html
    assert "size=big and color=red" in html


# ------------------------------------------------------------------ writing
def test_write_html_is_atomic(tmp_path, monkeypatch):
    result, html = dogs_cats()
    out = tmp_path / "r.html"
    write_html(result, out)
    assert out.read_text(encoding="utf-8") == html
    import biasaudit.report.html as mod

    def boom(*a, **k):
        raise RuntimeError("render failed")
    monkeypatch.setattr(mod, "render_html", boom)
    with pytest.raises(RuntimeError):
        write_html(result, out)
    with pytest.raises(RuntimeError):
        write_html(result, tmp_path / "new.html")
    assert out.read_text(encoding="utf-8") == html
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def test_write_html_never_overwrites_the_input(tmp_path):
    data = tmp_path / "data.csv"
    data.write_bytes((DATASETS / "dogs_cats.csv").read_bytes())
    result = biasaudit.audit(data, label="species", source=str(data))
    with pytest.raises(ValueError, match="audited data file"):
        write_html(result, data)
    assert data.read_bytes() == (DATASETS / "dogs_cats.csv").read_bytes()


def test_cli_writes_the_same_report(tmp_path):
    from click.testing import CliRunner
    from biasaudit.integrations.cli import cli
    out = tmp_path / "dc.html"
    r = CliRunner().invoke(cli, ["scan", str(DATASETS / "dogs_cats.csv"), "-l", "species", "--format", "html",
                                 "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    result = biasaudit.audit(DATASETS / "dogs_cats.csv", label="species", source=str(DATASETS / "dogs_cats.csv"))
    assert out.read_text(encoding="utf-8") == render_html(result)


# ------------------------------------------------------------------ the example reports
def _close(a, b, path="", rel=1e-9) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{path}: {sorted(set(a) ^ set(b))}"
        for k in a:
            _close(a[k], b[k], f"{path}.{k}", rel)
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]", rel)
    elif isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        assert math.isclose(a, b, rel_tol=rel, abs_tol=1e-12), path
    else:
        assert a == b, path


@pytest.mark.parametrize("name", ["kuri_pusi", "dogs_cats",
                                  pytest.param("dogs_cats_large", marks=pytest.mark.slow),
                                  pytest.param("german_credit", marks=pytest.mark.slow)])
def test_example_reports_are_up_to_date_and_small(name):
    """reports/<name>.html holds the current audit (regenerate: python reports/make_reports.py)."""
    path = ROOT / "reports" / f"{name}.html"
    assert path.exists(), f"{path} missing: run python reports/make_reports.py"
    stored = path.read_text(encoding="utf-8")
    assert len(stored.encode("utf-8")) < 1.5 * MB  # small enough to keep in the repository
    assert_self_contained(stored)
    result = _make_reports_module().audit_for(name)
    fresh = rounded(result.to_dict())
    old = embedded(stored)
    same_software = old.get("method", {}).get("software") == fresh.get("method", {}).get("software")
    if same_software:
        if stored != render_html(result):  # no assert: pytest's diff of two 1 MB pages takes minutes
            pytest.fail(f"{path} is stale: run python reports/make_reports.py", pytrace=False)
    else:  # another platform or library version: the numbers must still agree
        for d in (old, fresh):
            d.get("method", {}).pop("software", None)
        _close(old, fresh, rel=1e-6)


def test_make_reports_covers_every_dataset():
    listed = pd.read_csv(DATASETS / "datasets.csv")
    samples = {f for f, lab in zip(listed["file"], listed["label"]) if isinstance(lab, str) and lab}
    files = {file for file, _ in _make_reports_module().REPORTS.values()}
    assert samples == files
    assert os.path.exists(ROOT / "reports" / "make_reports.py")


# ------------------------------------------------------------------ Python and notebooks
@pytest.fixture(scope="module")
def script_category():
    """A category, a column and a label value that are markup: they must come out as text."""
    rng = np.random.default_rng(5)
    n = 200
    grp = rng.choice(["<script>alert(1)</script>", "plain"], n)
    y = np.where(grp == "plain", rng.random(n) < 0.7, rng.random(n) < 0.2)
    df = pd.DataFrame({"grp": grp, "<b>col</b>": rng.choice(["u", "v"], n), "y": np.where(y, "<i>yes</i>", "no")})
    return biasaudit.audit(df, label="y", sensitive=["grp"], probe=False)


def test_to_html_returns_and_writes_the_escaped_page(script_category, tmp_path):
    r = script_category
    page_text = r.to_html()
    assert page_text == render_html(r)
    for raw in ("<script>alert(1)</script>", "<b>col</b>", "<i>yes</i>"):
        assert raw not in page_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page_text and "&lt;b&gt;col&lt;/b&gt;" in page_text
    out = tmp_path / "r.html"
    assert r.to_html(out) == page_text and out.read_text(encoding="utf-8") == page_text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]  # atomic: no temporary file left


def test_repr_html_is_the_summary_and_a_collapsible_table(script_category):
    r = script_category
    nb = r._repr_html_()
    assert "<script" not in nb.lower() and "<b>col</b>" not in nb and "<i>yes</i>" not in nb
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in nb
    doc = parse(nb)
    assert {t for t, _ in doc.tags} >= {"details", "summary", "table", "style"}
    assert "The answer for the sensitive attributes you named" in nb
    roots = [f for f in S.visible(r) if f.id not in S.parents(r) and f.severity != "info"]
    assert nb.count('<tr><td><span class="badge') == len(roots)
    # the same summary template as the page: its answer block is identical
    answer = re.search(r'<table class="rates">.*?</table>', nb, re.S).group(0)
    assert answer in r.to_html()





def test_prediction_cards_give_the_interval_of_the_difference():
    rng = np.random.default_rng(11)
    n = 600
    g = rng.choice(["a", "b"], n, p=[0.5, 0.5])
    y = (rng.random(n) < 0.4).astype(int)
    pred = np.where(g == "a", rng.random(n) < 0.6, rng.random(n) < 0.3).astype(int)
    df = pd.DataFrame({"g": g, "y": y, "pred": pred})
    r = biasaudit.audit(df, label="y", sensitive=["g"], prediction="pred", probe=False)
    html = render_html(r)
    f = next(f for f in r.findings if f.effect_size_name == "selection_rate_difference" and f.kind == "gap")
    first, other = (next(iter(f.attributes.values())), "b" if next(iter(f.attributes.values())) == "a" else "a")
    k1, n1 = int(df[df.g == first].pred.sum()), int((df.g == first).sum())
    k2, n2 = int(df[df.g == other].pred.sum()), int((df.g == other).sum())
    lo, hi = newcombe(k1, n1, k2, n2)
    from biasaudit.report.html import fmt_num
    anchor = f'id="f{r.findings.index(f) + 1}"'
    card = html[html.index(anchor):]
    card = card[:card.index("</details>")]
    assert f"{fmt_num(k1 / n1 - k2 / n2)} [{fmt_num(lo)}, {fmt_num(hi)}]" in card
    assert "Newcombe" in card
    # the group's own rate keeps its Wilson interval, labelled as such
    wl, wh = biasaudit.stats.wilson_ci(k1, n1)
    assert f"selection rate of g={first}" in card and f"[{100 * wl:.0f}%, {100 * wh:.0f}%]" in card
    # the rates by group: one table row per group with TPR, FPR, PPV and the selection rate
    tp = int(((df.g == first) & (df.y == 1) & (df.pred == 1)).sum())
    pos = int(((df.g == first) & (df.y == 1)).sum())
    assert f"{100 * tp / pos:.1f}%" in html and "The model&#39;s rates by g" in html
