"""Checks for pipelines and test suites: fail loudly on what matters, and only on that.

* :func:`check` runs the whole audit and raises :class:`~biasaudit.BiasCheckError` (or warns with
  :class:`~biasaudit.BiasAuditWarning`) when a finding reaches ``fail_on``;
* :func:`assert_no_coverage_gaps`, :func:`assert_representation` and :func:`assert_parity` each run
  one detector and test one kind of claim;
* :func:`audited` decorates a function that returns a DataFrame.

Every failure rests on a statistically supported finding (adjusted p <= alpha within its family: the
primary family of the named sensitive attributes, or the exploratory one).  Folded findings (shown
under the finding that explains them) fail like any other.  A pattern the data
show but cannot establish never fails a check by default.  When the data are too few to test it at
all (Tarone's p_min > alpha: even a perfect pattern could not be significant), the focused assertions
say so with a :class:`~biasaudit.BiasAuditWarning` (``inconclusive="warn"``); they can be made strict
(``inconclusive="fail"``: any pattern not established fails) or silent (``inconclusive="ignore"``).

Each focused assertion runs its detector alone, so its hypotheses form their own multiple-testing
family (smaller than a full scan's, hence more powerful, and still corrected within itself).
"""
from __future__ import annotations

import functools
import math
import textwrap
import warnings
from typing import Any, Callable, Iterable, Mapping

import pandas as pd

from .config import Config, is_accepted, load_config
from ..errors import BiasCheckError, BiasAuditWarning
from ..findings import is_coverage_gap
from ..settings import FAIL_ON_LEVELS

__all__ = ["check", "assert_no_coverage_gaps", "assert_representation", "assert_parity", "audited", "is_coverage_gap",
           "failing_findings", "format_findings"]

ON_FAIL = ("raise", "warn")
INCONCLUSIVE = ("warn", "ignore", "fail")
NOT_ESTABLISHED = ("weak-evidence", "insufficient-data")


# ------------------------------------------------------------------ shared helpers
def _choice(value, allowed, param: str, func: str) -> None:
    if value not in allowed:
        raise ValueError(f"The {param!r} parameter of {func} must be one of "
                         f"{', '.join(map(repr, allowed))}. Got {value!r} instead.")


def failing_findings(result, fail_on: str = "medium", accept: Iterable = ()) -> list:
    """Findings of ``result`` at or above ``fail_on`` that are not accepted, folded under another or not."""
    return [f for f in result.at_or_above(fail_on) if is_accepted(f.id, accept) is None]


def format_findings(findings, *, width: int = 100) -> str:
    """A plain-text table of findings: severity, id, then the sentence (wrapped)."""
    if not findings:
        return "  (none)"
    sev_w = max(len(f.severity) for f in findings)
    lines = []
    for f in findings:
        folded = f"  (shown under {f.explained_by})" if f.explained_by else ""
        lines.append(f"  {f.severity:<{sev_w}}  {f.id}{folded}")
        lines.append(textwrap.fill(f.message, width=width, initial_indent=" " * (sev_w + 4),
                                   subsequent_indent=" " * (sev_w + 4), break_long_words=False,
                                   break_on_hyphens=False))
    return "\n".join(lines)


def _frame(result, findings) -> pd.DataFrame:
    frame = result.to_frame()
    order = {f.id: i for i, f in enumerate(findings)}
    frame = frame[frame["id"].isin(order)].copy()
    frame["_order"] = frame["id"].map(order)
    return frame.sort_values("_order").drop(columns="_order").reset_index(drop=True)


def _describe(result) -> str:
    d = result.dataset
    return f"{d.get('source')} ({d.get('n_rows_audited', d.get('n_rows')):,} rows, label {d.get('label')})"


def _act(result, failures, header: str, on_fail: str, stacklevel: int, notes: str = "") -> None:
    __tracebackhide__ = True
    message = f"{header}\n{format_findings(failures)}" + (f"\n{notes}" if notes else "")
    if on_fail == "warn":
        warnings.warn(BiasAuditWarning(message), stacklevel=stacklevel + 1)
        return
    raise BiasCheckError(message, result, _frame(result, failures))


def _inconclusive(result, findings, what: str, inconclusive: str, stacklevel: int) -> None:
    """Patterns observed but not established: warn about the untestable ones, or fail on all of them.

    ``"warn"`` names only the patterns the data cannot test at all (``insufficient-data``: even a
    perfect pattern could not reach alpha, Tarone's p_min > alpha); a testable pattern that missed
    significance (``weak-evidence``) is what chance produces among many groups, so it is only listed
    when a check fails.  ``"fail"`` raises on both.
    """
    __tracebackhide__ = True
    if inconclusive == "ignore":
        return
    if inconclusive == "warn":
        findings = [f for f in findings if f.severity == "insufficient-data"]
    if not findings:
        return
    alpha = result.settings["alpha"]
    if inconclusive == "fail":
        header = (f"{len(findings)} {what} observed in {_describe(result)} but not established "
                  f"(not statistically supported at alpha={alpha:g}):")
        raise BiasCheckError(f"{header}\n{format_findings(findings)}", result, _frame(result, findings))
    header = (f"{len(findings)} {what} observed in {_describe(result)}, but the data are too few to tell: "
              f"with these counts no outcome could reach significance at alpha={alpha:g}:")
    warnings.warn(BiasAuditWarning(f"{header}\n{format_findings(findings)}"), stacklevel=stacklevel + 1)


def _merge(config, explicit: Mapping[str, Any]) -> tuple[dict, tuple, str | None]:
    """audit() keyword arguments, accepted findings and fail_on from ``config``, overridden by ``explicit``."""
    if config is None or config is False:
        return dict(explicit), (), None
    if not isinstance(config, Config):
        config = load_config(None if config is True else config)
    kwargs = config.audit_kwargs()
    kwargs.update({k: v for k, v in explicit.items() if v is not None})
    return kwargs, tuple(config.accept), config.fail_on


def _audit(data, **kwargs):
    from ..audit.run import audit
    return audit(data, **kwargs)


# ------------------------------------------------------------------ check
def check(data, *, label: str | None = None, sensitive: Iterable[str] | None = None, fail_on: str | None = None,
          on_fail: str = "raise", accept: Iterable = (), config=None, **settings):
    """Audit ``data`` and fail when a finding reaches ``fail_on``.

    Parameters
    ----------
    data : pandas.DataFrame or path
    label : str, optional
        The label column (inferred when omitted, as in :func:`biasaudit.audit`).
    sensitive : list of str, optional
        Attributes audited for group attribution and proxies (default: every attribute).
    fail_on : {"low", "medium", "high", "critical", "never"}, default "medium"
        The least severe finding that fails the check (``config``'s ``fail_on`` when not given).
        Severities follow STATISTICS.md §1.4: a finding is at least ``low`` only when its
        adjusted p-value is <= alpha within its family (Holm over the hypotheses about the named
        ``sensitive`` attributes, Benjamini-Hochberg over the exploratory rest).  Folded findings
        count like any other.
    on_fail : {"raise", "warn"}
        Raise :class:`~biasaudit.BiasCheckError`, or emit a :class:`~biasaudit.BiasAuditWarning`.
    accept : list of str or Accepted
        Finding ids (``*`` wildcards allowed) accepted on purpose: reported, never failing.
    config : Config, path, True or None
        A configuration whose settings are used where no argument is given (``True``: find it
        from the working directory upward).  Its ``accept`` list adds to ``accept``.
    **settings
        Any other keyword argument of :func:`biasaudit.audit` (``alpha``, ``reference``, ``probe`` ...).

    Returns
    -------
    AuditResult
        The whole audit, when the check passes (or warns).

    Raises
    ------
    BiasCheckError
        With ``.result`` (the audit) and ``.failures`` (one row per failing finding).
    """
    __tracebackhide__ = True
    _choice(on_fail, ON_FAIL, "on_fail", "check")
    stacklevel = settings.pop("_stacklevel", 2)
    explicit = {"label": label, "sensitive": sensitive, **settings}
    kwargs, accepted, config_fail_on = _merge(config, explicit)
    fail_on = fail_on or config_fail_on or "medium"
    _choice(fail_on, FAIL_ON_LEVELS, "fail_on", "check")
    result = _audit(data, **kwargs)
    failures = failing_findings(result, fail_on, tuple(accept) + accepted)
    if failures:
        _act(result, failures, f"{len(failures)} finding(s) at or above {fail_on!r} in {_describe(result)}:",
             on_fail, stacklevel)
    return result


# ------------------------------------------------------------------ focused assertions
def assert_no_coverage_gaps(data, *, label: str | None = None, attributes: Iterable[str] | None = None,
                            fail_on: str = "low", on_fail: str = "raise", inconclusive: str = "warn",
                            accept: Iterable = (), **settings):
    """Assert that no attribute combination is (statistically) missing or missing a label.

    Runs the overgeneralization detector alone (its tests form the family) and fails on every
    coverage gap at or above ``fail_on``, folded or not, of two kinds (STATISTICS.md §3.1-3.2):

    * a cell whose count of a label is significantly below what the label's overall rate (and, for
      combinations, each parent cell) predicts (one-sided hypergeometric test, intersection-union
      over the parents). For a binary label a cell with no row of L is worded as the rule "every
      example is L'"; it is the same gap;
    * an attribute combination that is empty or far rarer than its margins imply (exact
      hypergeometric lower tail given the margins; ``kind == "coverage_gap"``), whether empty
      ("no example has size=small and color=white at all") or depleted (15 rows where 120 were
      expected).

    Gaps the data show but cannot establish (too few rows) are reported as ``inconclusive`` says.

    Parameters
    ----------
    data : pandas.DataFrame or path
    label : str, optional
    attributes : list of str, optional
        The attributes whose combinations are scanned (default: every attribute).
    fail_on : str
        ``"low"`` (default): any established gap fails.
    on_fail : {"raise", "warn"}
    inconclusive : {"warn", "ignore", "fail"}
    accept : list of str
    **settings
        Other keyword arguments of :func:`biasaudit.audit` (``alpha``, ``k_max`` ...).

    Returns
    -------
    AuditResult
    """
    __tracebackhide__ = True
    from ..settings import severity_rank
    _choice(on_fail, ON_FAIL, "on_fail", "assert_no_coverage_gaps")
    _choice(inconclusive, INCONCLUSIVE, "inconclusive", "assert_no_coverage_gaps")
    stacklevel = settings.pop("_stacklevel", 2)
    _choice(fail_on, FAIL_ON_LEVELS, "fail_on", "assert_no_coverage_gaps")
    settings.setdefault("probe", False)
    result = _audit(data, label=label, attributes=attributes, detectors=["overgeneralization"], **settings)
    gaps = [f for f in result.findings if is_coverage_gap(f)]
    threshold = None if fail_on == "never" else severity_rank(fail_on)
    failures = [f for f in gaps if threshold is not None and severity_rank(f.severity) <= threshold
                and is_accepted(f.id, accept) is None]
    weak = [f for f in gaps if f.severity in NOT_ESTABLISHED and f.pattern and f.explained_by is None
            and is_accepted(f.id, accept) is None]
    if failures:
        _act(result, failures, f"{len(failures)} coverage gap(s) at or above {fail_on!r} in {_describe(result)}:",
             on_fail, stacklevel, notes=_also_unclear(weak, "gap(s)"))
    _inconclusive(result, weak, "coverage gap(s)", inconclusive, stacklevel)
    return result


def _also_unclear(findings, what: str) -> str:
    if not findings:
        return ""
    return (f"  ... and {len(findings)} further {what} observed but not established: "
            + "; ".join(f.id for f in findings[:5]) + ("; ..." if len(findings) > 5 else ""))


def _reference_frame(attribute: str, reference) -> pd.DataFrame:
    if isinstance(reference, pd.DataFrame):
        frame = reference
    elif isinstance(reference, Mapping):
        first = next(iter(reference.values()), None)
        if isinstance(first, Mapping):  # {attribute: {value: share}}
            frame = pd.DataFrame([(a, v, s) for a, shares in reference.items() for v, s in shares.items()],
                                 columns=["attribute", "value", "share"])
        else:  # {value: share} for this attribute
            frame = pd.DataFrame([(attribute, v, s) for v, s in reference.items()],
                                 columns=["attribute", "value", "share"])
    else:
        from ..loaders import load
        frame = load(reference)
    missing = {"attribute", "value", "share"} - set(frame.columns)
    if missing:
        raise ValueError(f"The 'reference' parameter of assert_representation must have columns attribute, value "
                         f"and share. Missing: {', '.join(sorted(missing))}.")
    frame = frame[frame["attribute"].astype(str) == attribute].reset_index(drop=True)
    if frame.empty:
        raise ValueError(f"The reference has no rows for attribute {attribute!r}.")
    return frame.astype({"attribute": str, "value": str, "share": float})


def assert_representation(data, attribute: str, *, reference, tolerance: float = 0.2, label: str | None = None,
                          on_fail: str = "raise", inconclusive: str = "warn", **settings):
    """Assert that the groups of ``attribute`` are represented as in a reference population.

    Runs the selection detector alone against ``reference`` (STATISTICS.md §2.1).  A group fails when
    its representation ratio RR = q_g / p_g (sample share over reference share) lies outside
    ``[1 - tolerance, 1 / (1 - tolerance)]`` (the default 0.2 gives the symmetric four-fifths band
    [0.8, 1.25]) **and** its exact binomial test against p_g is statistically supported after
    correction.

    Parameters
    ----------
    data : pandas.DataFrame or path
    attribute : str
    reference : DataFrame (attribute, value, share), path, ``{value: share}`` or ``{attribute: {value: share}}``
    tolerance : float in (0, 1)
    label : str, optional
        The label column of the table (needed by the audit; the check does not depend on it).
    on_fail : {"raise", "warn"}
    inconclusive : {"warn", "ignore", "fail"}
    **settings
        Other keyword arguments of :func:`biasaudit.audit`.

    Returns
    -------
    AuditResult
    """
    __tracebackhide__ = True
    _choice(on_fail, ON_FAIL, "on_fail", "assert_representation")
    _choice(inconclusive, INCONCLUSIVE, "inconclusive", "assert_representation")
    stacklevel = settings.pop("_stacklevel", 2)
    if not (isinstance(tolerance, (int, float)) and 0 < tolerance < 1):
        raise ValueError(f"The 'tolerance' parameter of assert_representation must be in (0, 1). "
                         f"Got {tolerance!r} instead.")
    ref = _reference_frame(attribute, reference)
    settings.setdefault("probe", False)
    # only ``attribute`` is in the reference, so the selection detector tests only its values
    result = _audit(data, label=label, reference=ref, detectors=["selection"], **settings)
    lo, hi = 1 - tolerance, 1 / (1 - tolerance)
    outside = _outside_band(result, attribute, lo, hi)
    failures = [f for f in outside if f.established]
    weak = [f for f in outside if not f.established]
    impossible = [f for f in result.findings if f.id.endswith(":impossible") and attribute in f.attributes]
    notes = _also_unclear(weak, "group(s)") + "".join(f"\n  note: {f.message}" for f in impossible)
    if failures:
        _act(result, failures,
             f"{len(failures)} finding(s) with groups of {attribute} outside the representation band "
             f"[{lo:.2f}, {hi:.2f}] in {_describe(result)}:", on_fail, stacklevel, notes=notes)
    _inconclusive(result, weak, f"finding(s) with groups of {attribute} outside [{lo:.2f}, {hi:.2f}]",
                  inconclusive, stacklevel)
    return result


def _outside_band(result, attribute: str, lo: float, hi: float) -> list:
    """Representation findings of ``attribute`` with a group whose ratio q/p is outside [lo, hi].

    Attributes with three or more values have one finding per value (exact binomial test); for a
    two-valued attribute the attribute's own test is the test of either value, so its finding is
    used with the ratios of its evidence rows.
    """
    mine = [f for f in result.findings if f.kind == "representation" and set(f.attributes) == {attribute}
            and f.explained_by is None and not f.id.endswith(":impossible")]
    per_value = [f for f in mine if f.attributes[attribute] is not None]
    if per_value:
        return [f for f in per_value if _ratio_of(f) is not None and not lo <= _ratio_of(f) <= hi]
    return [f for f in mine if any(r.get("rr") is not None and not lo <= float(r["rr"]) <= hi
                                   for r in f.evidence)]


def _ratio_of(f) -> float | None:
    """The representation ratio q/p of a representation finding."""
    for key in ("representation_ratio", "ratio", "rr"):
        v = (f.details or {}).get(key)
        if v is not None:
            return float(v)
    if f.effect_size_name and "ratio" in f.effect_size_name and f.effect_size is not None:
        return float(f.effect_size)
    if f.n and f.observed is not None and f.expected:
        return float(f.observed) / float(f.expected)
    return None


def assert_parity(data, *, label: str | None = None, attribute: str, min_ratio: float = 0.8,
                  positive: str | None = None, reference_group: str | None = None, on_fail: str = "raise",
                  inconclusive: str = "warn", **settings):
    """Assert that no group of ``attribute`` has an established disparate impact below ``min_ratio``.

    Runs group attribution alone (STATISTICS.md §4.1).  For each group g the disparate impact is
    DI_g = r_g / r_ref, the rate of the ``positive`` label in g over its rate in the reference group
    (``reference_group``, else the largest group; the reference itself is compared with the rest).
    A group fails when DI_g < ``min_ratio`` **and** its rate differs from the rest of the data
    significantly (two-sided test of the group-vs-rest 2x2 table, Pearson chi-square or Fisher's exact
    test, Holm-adjusted within the primary family of ``attribute``'s hypotheses).  A DI below ``min_ratio`` that the
    data cannot establish is reported as ``inconclusive`` says, with its smallest attainable p-value
    when no outcome at this n could be significant.

    Parameters
    ----------
    data : pandas.DataFrame or path
    label : str, optional
    attribute : str
    min_ratio : float in (0, 1]
        0.8 is the four-fifths rule (EEOC, 29 CFR 1607.4(D)).
    positive : str, optional
        The favourable label value whose rate is compared (default: the minority value).
    reference_group : str, optional
    on_fail : {"raise", "warn"}
    inconclusive : {"warn", "ignore", "fail"}
    **settings
        Other keyword arguments of :func:`biasaudit.audit` (``alpha`` ...).

    Returns
    -------
    AuditResult
    """
    __tracebackhide__ = True
    _choice(on_fail, ON_FAIL, "on_fail", "assert_parity")
    _choice(inconclusive, INCONCLUSIVE, "inconclusive", "assert_parity")
    stacklevel = settings.pop("_stacklevel", 2)
    if not (isinstance(min_ratio, (int, float)) and 0 < min_ratio <= 1):
        raise ValueError(f"The 'min_ratio' parameter of assert_parity must be in (0, 1]. Got {min_ratio!r} instead.")
    settings.setdefault("probe", False)
    ref = {attribute: reference_group} if reference_group is not None else None
    result = _audit(data, label=label, sensitive=[attribute], positive=positive, reference_group=ref,
                    detectors=["group_attribution"], **settings)
    groups = [f for f in result.findings if f.kind == "group_rate" and attribute in f.attributes]
    below = [f for f in groups if _di(f) is not None and _di(f) < min_ratio]
    failures = [f for f in below if f.established]
    weak = [f for f in below if not f.established]
    if failures:
        _act(result, failures,
             f"Disparate impact below {min_ratio:g} established for {len(failures)} group(s) of {attribute} "
             f"in {_describe(result)}:", on_fail, stacklevel,
             notes=_also_unclear(weak, "group(s) below the ratio"))
    _inconclusive(result, weak, f"group(s) of {attribute} with disparate impact below {min_ratio:g}",
                  inconclusive, stacklevel)
    return result


def _di(f) -> float | None:
    v = f.disparate_impact
    return None if v is None or math.isnan(v) else float(v)


# ------------------------------------------------------------------ decorator
def audited(func: Callable | None = None, *, label: str | None = None, fail_on: str = "medium",
            on_fail: str = "raise", **settings):
    """Decorate a function returning a DataFrame: its result is checked with :func:`check`.

    >>> @audited(label="species", fail_on="high")  # doctest: +SKIP
    ... def load_training_data():
    ...     return pd.read_csv("train.csv")

    The decorated function returns the DataFrame unchanged (or raises :class:`BiasCheckError`).
    """
    _choice(on_fail, ON_FAIL, "on_fail", "audited")
    _choice(fail_on, FAIL_ON_LEVELS, "fail_on", "audited")

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            __tracebackhide__ = True
            out = fn(*args, **kwargs)
            if not isinstance(out, pd.DataFrame):
                raise TypeError(f"@audited expects {fn.__qualname__} to return a pandas DataFrame. "
                                f"Got {type(out).__name__} instead.")
            opts = {"source": f"{fn.__module__}.{fn.__qualname__}()", **settings}
            check(out, label=label, fail_on=fail_on, on_fail=on_fail, _stacklevel=3, **opts)
            return out
        return wrapper

    return decorate(func) if func is not None else decorate
