"""The shell around the subcommands: one-line errors, held notes, shared validators, limits, config merging.

Kept apart from :mod:`biasaudit.integrations.cli` (the subcommands themselves) so that each stays short.
"""
from __future__ import annotations

import contextvars
import os
import traceback
import warnings
from pathlib import Path

import click

from .._safe import escape_text
from ..errors import BiasAuditError
from ..limits import LIMIT_HELP, LimitError, parse_limit, use_limits
from ..validation import SettingError, validate

EXIT_FOUND, EXIT_BAD = 1, 2
#: File names used with --output-dir.
OUTPUT_NAMES = {"text": "biasaudit.txt", "json": "biasaudit.json", "html": "biasaudit.html",
                "junit": "biasaudit-junit.xml", "sarif": "biasaudit.sarif"}


class _Fail(click.ClickException):
    exit_code = EXIT_BAD

    def show(self, file=None) -> None:
        _echo_err(f"biasaudit: error: {self.format_message()}")


#: stderr lines of the running command, held until it succeeds (on failure only the error is shown).
_HELD: contextvars.ContextVar[list | None] = contextvars.ContextVar("biasaudit_cli_held", default=None)


def _echo_err(text: str) -> None:
    """One line on stderr, with control characters and bidi overrides from the data shown escaped."""
    click.echo(escape_text(text, keep_newlines=False), err=True)


def _say(text: str) -> None:
    """A note for stderr: held while the command runs, shown when it succeeds."""
    held = _HELD.get()
    if held is None:
        _echo_err(text)
    else:
        held.append(text)


def _checked(name: str):
    """A click callback running the shared validator of setting ``name`` (see biasaudit.validation)."""
    def callback(ctx, param, value):
        if value is None:
            return None
        try:
            return validate(name, value)
        except SettingError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return callback


def _parse_limits(values) -> dict:
    out = {}
    for v in values:
        if "=" not in v:
            raise _Fail(f"--limit expects NAME=VALUE (e.g. --limit line_bytes=64MB). Got {v!r} instead.")
        name, value = (x.strip() for x in v.split("=", 1))
        try:
            out[name] = parse_limit(name, value)
        except LimitError as exc:
            raise _Fail(str(exc)) from None
    return out


_LIMIT_OPTION = click.option(
    "--limit", "limits", multiple=True, metavar="NAME=VALUE",
    help="Raise a bound on what an input may make biasaudit allocate (repeatable): "
         + "; ".join(f"{k} ({v})" for k, v in LIMIT_HELP.items()) + ".")


def option_group(*decorators):
    """Several click options as one decorator, shared by the subcommands (same names, help and checks)."""
    def apply(f):
        for d in reversed(decorators):
            f = d(f)
        return f
    return apply


#: --random-state (and the deprecated --seed) of every command with random procedures.
RANDOM_STATE_OPTIONS = option_group(
    click.option("--random-state", "random_state", type=int, default=0, show_default=True,
                 callback=_checked("random_state"),
                 help="Seed of every random procedure (the name Python and the config file use)."),
    click.option("--seed", "seed", type=int, default=None, hidden=True, callback=_checked("random_state"),
                 deprecated="use --random-state (the same setting)"))
#: --alpha, --max-levels and --encoding: the same setting, help and validator in every command.
ALPHA_OPTION = click.option("--alpha", type=float, default=0.05, show_default=True, callback=_checked("alpha"),
                            help="Significance level (false discovery rate or family-wise error rate).")
MAX_LEVELS_OPTION = click.option("--max-levels", type=int, default=50, show_default=True,
                                 callback=_checked("max_levels"),
                                 help="Columns with more distinct values are left out as free text.")
ENCODING_OPTION = click.option("--encoding", default="utf-8", show_default=True, callback=_checked("encoding"),
                               help="Text encoding of the input(s).")
#: --bins as a number only (reweigh, diff, claim; scan also takes COL=EDGES).
NUMBER_OF_BINS_OPTION = click.option("--bins", type=int, default=5, show_default=True, callback=_checked("bins"),
                                     help="Quantile bins for numbers (2-20).")
#: --config / --no-config of the commands that read a configuration file.
CONFIG_OPTIONS = option_group(
    click.option("--config", "config_path", type=click.Path(dir_okay=False),
                 help="Configuration file (default: biasaudit.toml, [tool.biasaudit] in pyproject.toml or "
                      "[tool:biasaudit] in setup.cfg, found from here upward). Flags override it."),
    click.option("--no-config", is_flag=True, help="Ignore configuration files."))
#: --limit, -q and --debug, last on every command.
RUN_OPTIONS = option_group(
    _LIMIT_OPTION,
    click.option("-q", "--quiet", is_flag=True, help="No notes on stderr."),
    click.option("--debug", is_flag=True, help="Show tracebacks."))


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


def _os_message(exc) -> str:
    """An OS error as a sentence: what could not be done to which file, and what to check."""
    if isinstance(exc, BiasAuditError):
        return str(exc).strip().splitlines()[0]
    if getattr(exc, "filename", None) is not None and getattr(exc, "strerror", None):
        return (f"Cannot use {exc.filename}: {exc.strerror}. Check that the path exists and that you may "
                f"read (or write) it.")
    if isinstance(exc, MemoryError):
        return "Out of memory. Try --engine stream, or a machine with more memory."
    return str(exc).strip().splitlines()[0] if str(exc).strip() else "An operating-system error occurred."


def _limits(cfg, limits):
    """The limits of the configuration file, overridden by ``--limit`` (a context manager)."""
    return use_limits(**{**dict(getattr(cfg, "limits", None) or {}), **_parse_limits(limits)})


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _say_deprecations(caught) -> None:
    """biasaudit's own FutureWarnings (old option names) as one line each; any other warning as it was."""
    for w in caught:
        if issubclass(w.category, FutureWarning) and os.path.abspath(w.filename).startswith(_PACKAGE):
            _echo_err(f"biasaudit: deprecated: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _run(debug: bool, fn):
    """Run ``fn``; hold its notes until it succeeds; turn every error a user can cause into one line."""
    held: list = []
    token = _HELD.set(held)
    try:
        with warnings.catch_warnings(record=True) as caught:  # our deprecations: one line each
            warnings.simplefilter("always", FutureWarning)
            try:
                out = fn()
            finally:
                _say_deprecations(caught)
    except click.exceptions.Exit:
        raise
    except click.ClickException:
        raise
    except (OSError, MemoryError) as exc:
        if debug:
            traceback.print_exc()
        raise _Fail(_os_message(exc)) from None
    except RecursionError:
        if debug:
            traceback.print_exc()
        raise _Fail("An input is nested too deeply to read (a JSON document of thousands of levels?). Check "
                    "the file.") from None
    except (BiasAuditError, ValueError, KeyError, RuntimeError, TypeError) as exc:
        if debug:
            traceback.print_exc()
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not isinstance(exc, BiasAuditError):
            msg = f"{type(exc).__name__}: {msg} (run with --debug for details)"
        raise _Fail(msg) from None
    finally:
        _HELD.reset(token)
    for line in held:
        _echo_err(line)
    return out


def _load_config(config_path, no_config: bool):
    from .config import Config, load_config
    if config_path:
        return load_config(config_path)
    return Config() if no_config else load_config(None)


def _given(ctx, name: str) -> bool:
    """True when the user set option ``name`` on the command line (or through the environment)."""
    from click.core import ParameterSource
    return ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)


def _with_config(ctx, cfg, values: dict) -> dict:
    """The option values, each left at its default replaced by the configuration's (flags win).

    ``seed`` (the deprecated ``--seed``) is folded into ``random_state``: it wins over the config,
    never over ``--random-state``.
    """
    out = dict(values)
    seed = out.pop("seed", None)
    simple = ("label", "sensitive", "weight", "ids", "positive", "compare", "non_causal", "fail_on", "alpha",
              "correction", "random_state", "bins", "max_levels", "baseline", "attributes", "exclude")
    for name in simple:
        if not _given(ctx, name) and cfg.is_set(name):
            value = getattr(cfg, name)
            out[name] = tuple(value) if isinstance(value, tuple) else value
    if not _given(ctx, "reference") and cfg.reference is not None:
        out["reference"] = cfg.reference if isinstance(cfg.reference, str) else cfg.reference_frame()
    if not _given(ctx, "reference_group") and cfg.reference_group:
        out["reference_group"] = dict(cfg.reference_group)
    if not _given(ctx, "no_probe") and cfg.probe is not None:
        out["no_probe"] = not cfg.probe
    out["extra"] = {k: v for k, v in (("attributes", list(cfg.attributes) or None), ("k_max", cfg.k_max))
                    if v is not None}
    if seed is not None and not _given(ctx, "random_state"):
        out["random_state"] = seed
    out["fail_on_set"] = _given(ctx, "fail_on") or cfg.fail_on is not None
    return out


def _output_plan(fmts, outputs, output_dir, data) -> list:
    """[(format, path or None)]: where each report goes (None: stdout)."""
    fmts = list(fmts) or ["text"]
    if output_dir:
        if outputs:
            raise _Fail("Give either -o (one per --format) or --output-dir, not both.")
        plan = [(f, str(Path(output_dir) / OUTPUT_NAMES[f])) for f in fmts]
    elif outputs:
        if len(outputs) != len(fmts):
            raise _Fail(f"{len(fmts)} --format but {len(outputs)} -o: give one -o per --format, in the same "
                        f"order, or use --output-dir.")
        plan = list(zip(fmts, outputs))
    elif len(fmts) > 1:
        raise _Fail("Several --format need one -o each (in the same order) or --output-dir.")
    else:
        plan = [(fmts[0], None)]
    paths = [p for _, p in plan if p]
    if len(set(map(os.path.abspath, paths))) < len(paths):
        raise _Fail("Two reports would be written to the same file; give each --format its own -o.")
    return plan


