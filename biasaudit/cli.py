"""Command line: ``biasaudit scan DATA``.  A thin shell: load, call the library, render, exit code.

Exit codes: 0 the scan ran and nothing reached ``--fail-on``; 1 a finding reached ``--fail-on``;
2 bad usage or bad data (one line on stderr; the traceback only with ``--debug``).
"""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import click

from . import __version__
from .errors import BiasAuditError
from .settings import FAIL_ON_LEVELS

__all__ = ["main", "cli"]

EXIT_FOUND, EXIT_BAD = 1, 2


class _Fail(click.ClickException):
    exit_code = EXIT_BAD

    def show(self, file=None) -> None:
        click.echo(f"biasaudit: error: {self.format_message()}", err=True)


def _parse_multi(values) -> dict:
    out = {}
    for v in values:
        col, sep = v, None
        if ":" in v:
            head, tail = v.rsplit(":", 1)
            if 0 < len(tail) <= 3:
                col, sep = head, tail
        out[col] = sep
    return out


def _parse_pairs(values, option: str) -> dict:
    out = {}
    for v in values:
        if "=" not in v:
            raise _Fail(f"{option} expects ATTRIBUTE=VALUE, got {v!r}.")
        k, val = v.split("=", 1)
        out[k.strip()] = val.strip()
    return out


def _run(debug: bool, fn):
    try:
        return fn()
    except click.exceptions.Exit:
        raise
    except click.ClickException:
        raise
    except (BiasAuditError, ValueError, KeyError, OSError, MemoryError, RuntimeError, TypeError) as exc:
        if debug:
            traceback.print_exc()
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not isinstance(exc, BiasAuditError):
            msg = f"{type(exc).__name__}: {msg} (run with --debug for details)"
        raise _Fail(msg) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="biasaudit")
def cli():
    """Audit a labelled dataset for bias before training on it."""


def _progress(enabled: bool):
    if not enabled or not sys.stderr.isatty():
        return None, None
    bar = click.progressbar(length=1, label="scanning", file=sys.stderr)
    state = {"bar": bar.__enter__()}

    def step(name, i, total):
        b = state["bar"]
        b.length = total
        b.label = f"scanning: {name}"
        b.update(1 if i else 0)
    return step, bar


@cli.command()
@click.argument("data", type=click.Path(dir_okay=True, path_type=str))
@click.option("-l", "--label", help="Label column (default: label/class/target/y/outcome, else the last column).")
@click.option("-s", "--sensitive", multiple=True, help="Sensitive attribute (repeatable; default: every attribute).")
@click.option("--weight", help="Column of frequency weights (aggregated tables).")
@click.option("--id", "ids", multiple=True, help="Identifier column to leave out (repeatable).")
@click.option("--multi", multiple=True, metavar="COL[:SEP]", help="Multi-valued column and its separator.")
@click.option("--positive", help="Label value whose rate is compared across groups (default: the minority).")
@click.option("--reference", type=click.Path(exists=False), help="CSV of attribute,value,share: the population.")
@click.option("--compare", type=click.Path(exists=False), help="A second sample (e.g. the test split).")
@click.option("--reference-group", multiple=True, metavar="ATTR=VALUE", help="Reference group for disparate impact.")
@click.option("--non-causal", multiple=True, metavar="ATTR", help="Attribute that should not decide the label.")
@click.option("--no-probe", is_flag=True, help="Skip the classifier probe.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the report here (atomically).")
@click.option("--fail-on", type=click.Choice(FAIL_ON_LEVELS), default="never", show_default=True,
              help="Exit with code 1 when a finding reaches this severity.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True)
@click.option("--correction", type=click.Choice(["bh", "holm", "by"]), default="bh", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random procedure.")
@click.option("--bins", type=click.IntRange(2, 20), default=5, show_default=True, help="Quantile bins for numbers.")
@click.option("--max-levels", type=click.IntRange(2), default=50, show_default=True,
              help="Columns with more distinct values are left out as free text.")
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of the input.")
@click.option("--timestamp", is_flag=True, help="Stamp the HTML report with the time it was made.")
@click.option("-q", "--quiet", is_flag=True, help="No notes on stderr.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def scan(data, label, sensitive, weight, ids, multi, positive, reference, compare, reference_group, non_causal,
         no_probe, fmt, output, fail_on, alpha, correction, seed, bins, max_levels, encoding, timestamp, quiet, debug):
    """Scan DATA (CSV, TSV, Parquet, JSON Lines) for bias and report what was found."""
    from .audit import audit
    from .loaders import load
    from .report import write_report, render

    def work():
        if output and Path(data).exists() and Path(output).resolve() == Path(data).resolve():
            raise _Fail("The output path is the input file; choose another -o so the data is not overwritten.")
        df = load(data, encoding=encoding)
        ref = load(reference, encoding=encoding) if reference else None
        cmp_ = load(compare, encoding=encoding) if compare else None
        step, bar = _progress(not quiet)
        try:
            result = audit(df, label=label, sensitive=sensitive or None, weight=weight, ids=ids or None,
                           multi=_parse_multi(multi) or None, positive=positive, reference=ref, compare=cmp_,
                           reference_group=_parse_pairs(reference_group, "--reference-group"),
                           non_causal=non_causal, alpha=alpha, correction=correction, random_state=seed,
                           n_bins=bins, max_levels=max_levels, probe=not no_probe, source=data, progress=step)
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
        if not quiet:
            for note in result.dataset.get("notes", []):
                click.echo(f"biasaudit: {note}", err=True)
        options = {"timestamp": True} if (timestamp and fmt == "html") else {}
        if output:
            write_report(result, output, fmt, **options)
            if not quiet:
                click.echo(f"biasaudit: wrote {fmt} report to {output}", err=True)
        else:
            click.echo(render(result, fmt, **options), nl=False)
        return result

    result = _run(debug, work)
    if result.at_or_above(fail_on):
        sys.exit(EXIT_FOUND)


def main() -> None:
    """Entry point of the ``biasaudit`` command."""
    try:
        cli.main(prog_name="biasaudit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("biasaudit: aborted", err=True)
        sys.exit(EXIT_BAD)
    except click.ClickException as exc:
        if isinstance(exc, _Fail):
            exc.show()
        else:
            click.echo(f"biasaudit: error: {exc.format_message()}", err=True)
        sys.exit(EXIT_BAD)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except Exception as exc:  # a bug: still one line unless --debug
        if "--debug" in sys.argv:
            raise
        click.echo(f"biasaudit: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
                   err=True)
        sys.exit(EXIT_BAD)


cli.main_entry = main  # for ``python -m biasaudit``
