"""JUnit XML: one test case per finding, so CI dashboards list bias findings beside unit tests.

A finding at or above ``fail_on`` (and neither accepted nor already in the baseline) is a
``<failure>``, whether or not the report folds it under another finding; a pattern the data cannot establish (``insufficient-data``) is ``<skipped>`` ("n too
small to test"); every other finding passes, its sentence in ``<system-out>``.  A scan without
findings still writes one passing test case, so the suite is never empty.

The layout follows the de-facto JUnit schema read by Jenkins, GitLab and GitHub Actions reporters:
``<testsuites>`` > ``<testsuite name tests failures errors skipped time>`` > ``<testcase classname name>``.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Iterable, Mapping

from ..findings import format_p

__all__ = ["render_junit"]

_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text) -> str:
    """XML 1.0 cannot hold most control characters, even escaped: drop them."""
    return _ILLEGAL_XML.sub("", "" if text is None else str(text))


def _num(x) -> str:
    return "n/a" if x is None else f"{float(x):.4g}"


def _details(f) -> str:
    lines = [f.message, "", f"id: {f.id}", f"severity: {f.severity}", f"bias type: {f.bias_type}"]
    if f.family:
        lines.append(f"family: {f.family}")
    if f.explained_by:
        lines.append(f"shown under: {f.explained_by}")
    if f.test:
        lines.append(f"test: {f.test}; p={format_p(f.p_value)}; adjusted p={format_p(f.p_adjusted)}; "
                     f"p_min={format_p(f.p_min)}")
    if f.effect_size_name:
        lines.append(f"effect: {f.effect_size_name} = {_num(f.effect_size)}")
    lines.append(f"rows: {f.n}")
    if f.suggestion:
        lines += ["", f"suggestion: {f.suggestion}"]
    return "\n".join(lines)


def render_junit(result, *, fail_on: str = "medium", failing: Iterable[str] | None = None,
                 accepted: Mapping[str, str] | None = None, suite_name: str = "biasaudit") -> str:
    """The audit as a JUnit XML document.

    Parameters
    ----------
    result : AuditResult
    fail_on : str
        Findings at or above this severity fail (ignored when ``failing`` is given).
    failing : iterable of str, optional
        The ids that fail (e.g. after a baseline comparison or accepted findings).
    accepted : mapping of id to reason, optional
        Findings accepted on purpose; their test case says so and passes.
    suite_name : str
    """
    failing_ids = set(failing) if failing is not None else {f.id for f in result.at_or_above(fail_on)}
    accepted = dict(accepted or {})
    source = str(result.dataset.get("source", ""))
    suites = ET.Element("testsuites", name=suite_name)
    suite = ET.SubElement(suites, "testsuite", name=f"{suite_name}: {_clean(source)}")
    props = ET.SubElement(suite, "properties")  # first, as the schema orders them
    n_fail = n_skip = 0
    cases = list(result.findings)
    for f in cases:
        case = ET.SubElement(suite, "testcase", classname=f"{suite_name}.{f.bias_type}", name=_clean(f.id),
                             time="0")
        if f.id in failing_ids:
            n_fail += 1
            el = ET.SubElement(case, "failure", message=_clean(f.message), type=f.severity)
            el.text = _clean(_details(f))
        elif f.severity == "insufficient-data":
            n_skip += 1
            ET.SubElement(case, "skipped", message=_clean(f.message))
        else:
            out = ET.SubElement(case, "system-out")
            note = f"accepted: {accepted[f.id] or 'yes'}\n" if f.id in accepted else ""
            out.text = _clean(note + _details(f))
    if not cases:
        case = ET.SubElement(suite, "testcase", classname=f"{suite_name}.scan", name="no findings", time="0")
        ET.SubElement(case, "system-out").text = _clean(
            f"{result.family_size} hypotheses, {result.n_testable} testable; nothing to report.")
    total = max(len(cases), 1)
    for el in (suites, suite):
        el.set("tests", str(total))
        el.set("failures", str(n_fail))
        el.set("errors", "0")
        el.set("skipped", str(n_skip))
        el.set("time", "0")
    for name, value in (("source", source), ("n_rows", result.dataset.get("n_rows")),
                        ("label", result.dataset.get("label")), ("fail_on", fail_on),
                        ("family_size", result.family_size), ("n_testable", result.n_testable),
                        ("biasaudit_version", result.tool.get("version", ""))):
        ET.SubElement(props, "property", name=name, value=_clean(value))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
