"""Command line: ``biasaudit scan DATA``.  A thin shell: load, call the library, render, exit code.

Exit codes: 0 the scan ran and nothing reached ``--fail-on``; 1 a finding reached ``--fail-on``;
2 bad usage or bad data (one line on stderr; the traceback only with ``--debug``).
"""
from __future__ import annotations

import sys

import click

from .._version import __version__
from .._safe import escape_text
from ..settings import FAIL_ON_LEVELS
from ._cliutil import (ALPHA_OPTION, CONFIG_OPTIONS, ENCODING_OPTION, EXIT_BAD, EXIT_FOUND, MAX_LEVELS_OPTION,
                       NUMBER_OF_BINS_OPTION, RANDOM_STATE_OPTIONS, RUN_OPTIONS, _checked, _echo_err, _Fail,
                       _limits, _load_config, _output_plan, _parse_multi, _parse_pairs, _run, _say, _with_config)
from .inputs import RunInputs

__all__ = ["main", "cli"]

REPORT_FORMATS = ("text", "json", "html", "junit", "sarif")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="biasaudit")
def cli():
    """Audit a labelled dataset for bias before training on it."""


def _checked_bins(ctx, param, value):
    """``--bins``: a number of bins (the shared validator: 2 to 20) or COLUMN=EDGES, refused before any read."""
    if not value:
        return value
    from ..engine.levels import parse_bins
    try:
        parse_bins(list(value))
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return value


def _progress(enabled: bool):
    """A bar advanced by the audit's cost estimate (``step(stage, done, total)`` in estimated seconds)."""
    if not enabled or not sys.stderr.isatty():
        return None, None
    bar = click.progressbar(length=1000, label="scanning", file=sys.stderr)
    state = {"bar": bar.__enter__()}

    def step(name, done, total):
        b = state["bar"]
        b.label = f"scanning: {name}"
        top = 1000 if name == "done" else 999  # the bar finishes only when the audit does
        b.update(max(0, min(top, int(1000 * done / total)) - b.pos) if total else 0)
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
@click.option("--prediction", metavar="COL", help="Column of a model's predictions: audit its error rates by group.")
@click.option("--predicted-positive", multiple=True, metavar="VALUE",
              help="Prediction value meaning positive (repeatable; default: the label's positive value).")
@click.option("--score", metavar="COL", help="Column of a model's scores: positive when score >= --threshold; "
                                              "also audits calibration by group.")
@click.option("--threshold", type=float, callback=_checked("threshold"), help="Cut-off of --score (default 0.5 for scores within [0, 1]).")
@click.option("--weight-file", type=click.Path(dir_okay=False),
              help="Per-row weights from 'biasaudit reweigh' (a CSV with a weight column, and the id column "
                   "when the data have one): re-audit the data as weighted.")
@click.option("--reference-group", multiple=True, metavar="ATTR=VALUE", help="Reference group for disparate impact.")
@click.option("--non-causal", multiple=True, metavar="ATTR", help="Attribute that should not decide the label.")
@click.option("--no-probe", is_flag=True, help="Skip the classifier probe.")
@click.option("--format", "fmt", type=click.Choice(REPORT_FORMATS), multiple=True,
              help="Report format: text (default), json, html, junit, sarif. Repeatable: give one -o per "
                   "--format (in the same order) or --output-dir.")
@click.option("-o", "--output", multiple=True, type=click.Path(dir_okay=False),
              help="Write the report here (atomically); one per --format.")
@click.option("--output-dir", type=click.Path(file_okay=False), help="Write every --format into this folder.")
@CONFIG_OPTIONS
@click.option("--baseline", type=click.Path(dir_okay=False),
              help="Fail only on findings new or worsened since this baseline; report the resolved ones.")
@click.option("--write-baseline", type=click.Path(dir_okay=False),
              help="Record this scan's findings as the baseline (and exit 0).")
@click.option("--accept", multiple=True, metavar="ID", help="Finding id accepted on purpose (repeatable; * wildcard).")
@click.option("--fail-on", type=click.Choice(FAIL_ON_LEVELS), default="never", show_default=True,
              help="Exit with code 1 when a finding reaches this severity.")
@ALPHA_OPTION
@click.option("--correction", type=click.Choice(["bh", "holm", "by"]), default="bh", show_default=True)
@RANDOM_STATE_OPTIONS
@click.option("--bins", multiple=True, metavar="N|COL=EDGES", callback=_checked_bins,
              help="Quantile bins for numbers (2-20, default 5, plus a bottom and a top 5% bin), or a column's "
                   "cut points, e.g. age=18,25,45,65 (repeatable).")
@MAX_LEVELS_OPTION
@click.option("--attributes", multiple=True, metavar="COL", help="Audit only this column (repeatable).")
@click.option("--exclude", multiple=True, metavar="COL", help="Leave this column out of the audit (repeatable).")
@click.option("--keep", multiple=True, metavar="COL",
              help="Audit this column even if it looks like a leak of the outcome or a copy of another (repeatable).")
@ENCODING_OPTION
@click.option("--images-root", type=click.Path(file_okay=False),
              help="Folder the manifest's image paths are relative to (default: the manifest's folder); "
                   "paths that leave it are refused.")
@click.option("--image-features/--no-image-features", default=True, show_default=True,
              help="Compute pixel attributes (size, colours, brightness, EXIF) of image sources.")
@click.option("--cache", "image_cache", type=click.Path(dir_okay=False),
              help="Parquet cache of image attributes, reused for files whose size and mtime are unchanged.")
@click.option("--timestamp", is_flag=True, help="Stamp the HTML report with the time it was made.")
@click.option("--top", type=click.IntRange(1), metavar="N", help="Text report: findings shown per section (default 8).")
@click.option("--verbose", is_flag=True, help="Text report: every finding, folded and info ones included.")
@click.option("--engine", type=click.Choice(["auto", "memory", "stream", "dask", "sql"]), default="auto", show_default=True,
              help="One engine reads every input in chunks into count tables (auto = stream). memory: keep every "
                   "row in the row sample (exact row-reading detectors at any size); dask: count partition by "
                   "partition on a dask cluster; sql: count in a database (implied by a database URL).")
@click.option("--chunk-size", type=int, callback=_checked("chunk_size"), metavar="ROWS", help="Rows per chunk of the streaming engine.")
@click.option("--sample-rows", type=int, callback=_checked("sample_rows"), metavar="ROWS",
              help="Rows of the seeded sample that row-level detectors use under stream/dask (default 200000).")
@click.option("--scheduler", metavar="ADDRESS", help="Address of a dask.distributed scheduler (with --engine dask).")
@click.option("--table", metavar="NAME", help="Database table or view to audit (DATA a postgresql://, sqlite:/// or "
                                             "duckdb:/// URL or a .sqlite/.db/.duckdb file).")
@click.option("--query", metavar="SQL", help="One SELECT statement to audit instead of --table (counted in the database).")
@RUN_OPTIONS
def scan(data, label, sensitive, weight, ids, multi, positive, reference, compare, reference_group, non_causal,
         no_probe, fmt, output, fail_on, alpha, correction, random_state, bins, max_levels, encoding, timestamp, quiet, debug,
         output_dir, config_path, no_config, baseline, write_baseline, accept, images_root, image_features,
         image_cache, prediction=None, predicted_positive=(), score=None, threshold=None, weight_file=None,
         engine="auto", chunk_size=None, sample_rows=None, scheduler=None, top=None, verbose=False,
         limits=(), attributes=(), exclude=(), keep=(), table=None, query=None, seed=None):
    """Scan DATA for bias and report what was found.

    DATA is a table (CSV, TSV, Parquet, JSON Lines; a manifest whose column of image paths gets
    pixel attributes), a folder of images with one sub-folder per class, a COCO instances JSON
    file or a CelebA attribute file; or a database (postgresql://, sqlite:///, duckdb:/// URL or a
    .sqlite/.db/.duckdb file) with --table or --query, counted in the database.
    """
    from ..audit.run import audit
    from ..loaders import load

    def work():
        ctx = click.get_current_context()
        cfg = _load_config(config_path, no_config)
        with _limits(cfg, limits):
            return scan_work(ctx, cfg)

    def scan_work(ctx, cfg):
        o = _with_config(ctx, cfg, dict(
            label=label, sensitive=sensitive, weight=weight, ids=ids, positive=positive, reference=reference,
            compare=compare, reference_group=_parse_pairs(reference_group, "--reference-group"),
            non_causal=non_causal, no_probe=no_probe, fail_on=fail_on, alpha=alpha, correction=correction,
            random_state=random_state, seed=seed, bins=bins or None, max_levels=max_levels, baseline=baseline,
            attributes=attributes, exclude=exclude))
        o["text_options"] = {"top": top, "verbose": verbose}
        plan = _output_plan(fmt, output, output_dir, data)
        inputs = RunInputs()
        for role, path in (("data", data), ("configuration", cfg.path), ("compare", o.get("compare")),
                           ("baseline", o["baseline"]), ("weight", weight_file),
                           ("reference", o["reference"] if isinstance(o["reference"], str) else None)):
            inputs.add(role, path)
        outputs = [("--output-dir" if output_dir else "-o", p) for _, p in plan if p]
        outputs += [("--write-baseline", write_baseline)] if write_baseline else []
        inputs.check_output("--cache", image_cache)
        inputs.add("image cache", image_cache)
        inputs.check_outputs(outputs)
        from ..loaders.images import tty_progress
        from ..engine.scan import choose_engine, streamable
        client = None
        chosen = choose_engine(data, engine)
        if chosen == "sql":  # summarized and counted in the database
            df = data
        elif chosen == "dask":  # partitions read by the workers; --scheduler: a cluster
            from ..engine.dask import connect, read_dask
            client = connect(scheduler)
            df = read_dask(data, encoding=encoding)
        elif images_root is None and streamable(data, encoding):
            df = data  # read in chunks by the engine
        else:  # folders, COCO, CelebA, manifests, JSON Lines ...: the loaders
            df = load(data, encoding=encoding, label=o["label"], images_root=images_root,
                      image_features=image_features, cache=image_cache, progress=tty_progress(not quiet))
            inputs.add_images(df)  # a manifest's images are known now
            inputs.check_outputs(outputs)
        ref = load(o["reference"], encoding=encoding) if isinstance(o["reference"], str) else o["reference"]
        cmp_ = load(o["compare"], encoding=encoding) if o["compare"] else None
        step, bar = _progress(not quiet)
        try:
            result = audit(df, label=o["label"], sensitive=o["sensitive"] or None, weight=o["weight"],
                           ids=o["ids"] or None, multi=_parse_multi(multi) or None, positive=o["positive"],
                           reference=ref, compare=cmp_, reference_group=o["reference_group"],
                           non_causal=o["non_causal"], alpha=o["alpha"], correction=o["correction"],
                           random_state=o["random_state"], bins=o["bins"], max_levels=o["max_levels"],
                           probe=not o["no_probe"], source=data, progress=step, prediction=prediction,
                           predicted_positive=predicted_positive or None, score=score, threshold=threshold,
                           weight_file=weight_file, engine=engine, chunk_size=chunk_size, encoding=encoding,
                           sample_rows=sample_rows, attributes=o["attributes"] or None,
                           exclude=o["exclude"] or None, keep=keep or None, table=table, query=query,
                           **{k: v for k, v in o["extra"].items() if k != "attributes"})
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
            if client is not None:
                client.close()
        if not quiet:
            for note in result.dataset.get("notes", []):
                _say(f"biasaudit: {note}")
        return _finish_scan(result, o, cfg, plan, accept, write_baseline, timestamp, quiet)

    failing = _run(debug, work)
    if failing:
        sys.exit(EXIT_FOUND)


@cli.command("reweigh")
@click.argument("data", type=click.Path(dir_okay=True, path_type=str))
@click.option("-l", "--label", help="Label column (default: inferred, as for scan).")
@click.option("-s", "--sensitive", multiple=True, metavar="ATTR",
              help="Attribute to balance (repeatable; their joint groups). With --reference: the reference "
                   "attributes to rake (default: all of them).")
@click.option("--reference", type=click.Path(dir_okay=False),
              help="CSV of attribute,value,share: rake to these margins (iterative proportional fitting) "
                   "instead of reweighing.")
@click.option("--weight", help="Column of frequency weights; the written weights multiply it.")
@click.option("--id", "ids", multiple=True, help="Identifier column, written beside the weights.")
@click.option("--positive", help="Label value whose rate is shown (default: the minority).")
@NUMBER_OF_BINS_OPTION
@click.option("--tol", type=float, default=1e-10, show_default=True, callback=_checked("tol"),
              help="Raking: largest absolute margin error accepted.")
@click.option("--max-iter", type=int, default=1000, show_default=True, callback=_checked("max_iter"), help="Raking: most sweeps.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Weights CSV to write.")
@ENCODING_OPTION
@RUN_OPTIONS
def reweigh_command(data, label, sensitive, reference, weight, ids, positive, bins, tol, max_iter, output, encoding,
                    quiet, debug, limits=()):
    """Write per-row weights for DATA that remove a disparity or a selection bias.

    Without --reference: Kamiran & Calders reweighing, w(g, y) = P(g)P(y)/P(g, y) over the joint
    groups g of the -s attributes and the label y, which makes the label independent of them.
    With --reference: raking to the reference margins. Re-audit with
    'biasaudit scan DATA --weight-file OUTPUT'.
    """
    from ..loaders import load
    from ..tools.reweigh import rake, reweigh, write_weights

    def work():
        with _limits(None, limits):
            return reweigh_work()

    def reweigh_work():
        inputs = RunInputs()
        inputs.add("data", data)
        inputs.add("reference", reference)
        inputs.check_output("-o", output)
        df = load(data, encoding=encoding, label=label)
        inputs.add_images(df)
        inputs.check_output("-o", output)
        if reference:
            res = rake(df, load(reference, encoding=encoding), label=label, sensitive=sensitive or None,
                       weight=weight, ids=ids or None, bins=bins, tol=tol, max_iter=max_iter)
        else:
            if not sensitive:
                raise _Fail("Name the attribute(s) to balance with -s, or give --reference to rake.")
            res = reweigh(df, label=label, sensitive=sensitive, weight=weight, ids=ids or None, positive=positive,
                          bins=bins)
        write_weights(res, output)
        if not quiet:
            for line in res.lines():
                _say(f"biasaudit: {line}")
            _say(f"biasaudit: wrote weights to {output}; re-audit with: biasaudit scan {data}"
                 + (f" -l {label}" if label else "") + f" --weight-file {output}")
        return res.converged

    if not _run(debug, work):
        sys.exit(EXIT_FOUND)


@cli.command("diff")
@click.argument("old", type=click.Path(dir_okay=True, path_type=str))
@click.argument("new", type=click.Path(dir_okay=True, path_type=str))
@click.option("-l", "--label", help="Label column (default: inferred, as for scan).")
@click.option("-s", "--sensitive", multiple=True, help="Sensitive attribute (repeatable; default: every attribute).")
@click.option("--positive", help="Label value whose rate is compared across groups (default: the minority).")
@click.option("--non-causal", multiple=True, metavar="ATTR", help="Attribute that should not decide the label.")
@click.option("--no-probe", is_flag=True, help="Skip the classifier probe (and so the learned-rule comparison).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the diff here (atomically).")
@click.option("--fail-on", type=click.Choice(FAIL_ON_LEVELS), default="never", show_default=True,
              help="Exit with code 1 when a new, worsened or shifted finding reaches this severity.")
@ALPHA_OPTION
@RANDOM_STATE_OPTIONS
@NUMBER_OF_BINS_OPTION
@MAX_LEVELS_OPTION
@ENCODING_OPTION
@CONFIG_OPTIONS
@RUN_OPTIONS
def diff_command(old, new, label, sensitive, positive, non_causal, no_probe, fmt, output, fail_on, alpha, random_state,
                 bins, max_levels, encoding, config_path, no_config, quiet, debug, limits=(), seed=None):
    """What changed between two versions OLD and NEW of a dataset: new gaps, worsened or improved
    disparities, shifted group shares, newly learned rules."""
    from ..tools.diff import diff
    from ..loaders import load

    def work():
        ctx = click.get_current_context()
        cfg = _load_config(config_path, no_config)
        with _limits(cfg, limits):
            return diff_work(ctx, cfg)

    def diff_work(ctx, cfg):
        o = _with_config(ctx, cfg, dict(label=label, sensitive=sensitive, positive=positive, non_causal=non_causal,
                                        no_probe=no_probe, fail_on=fail_on, alpha=alpha, random_state=random_state,
                                        seed=seed, bins=bins, max_levels=max_levels, reference=None,
                                        reference_group={}))
        inputs = RunInputs()
        for role, path in (("old data", old), ("new data", new), ("configuration", cfg.path), ("compare", o.get("compare")),
                           ("reference", o["reference"] if isinstance(o["reference"], str) else None)):
            inputs.add(role, path)
        inputs.check_output("-o", output)
        extra = {k: v for k, v in (("weight", o.get("weight")), ("ids", list(o.get("ids") or ()) or None),
                                   ("correction", o.get("correction")), ("reference_group", o["reference_group"]),
                                   ("reference", load(o["reference"], encoding=encoding)
                                    if isinstance(o["reference"], str) else o["reference"])) if v is not None}
        d = diff(load(old, encoding=encoding), load(new, encoding=encoding), label=o["label"],
                 sensitive=o["sensitive"] or None, positive=o["positive"], non_causal=o["non_causal"],
                 alpha=o["alpha"], random_state=o["random_state"], bins=o["bins"], max_levels=o["max_levels"],
                 probe=not o["no_probe"], old_source=old, new_source=new, **extra, **o["extra"])
        text = escape_text(d.render_text()) if fmt == "text" else d.to_json() + "\n"
        if output:
            from ..report._atomic import atomic_write_text
            atomic_write_text(output, text)
            if not quiet:
                _say(f"biasaudit: wrote {fmt} diff to {output}")
        else:
            click.echo(text, nl=False)
        return d.at_or_above(o["fail_on"])

    if _run(debug, work):
        sys.exit(EXIT_FOUND)


@cli.command("claim")
@click.argument("data", type=click.Path(dir_okay=True, path_type=str))
@click.argument("claims", nargs=-1, required=True)
@click.option("-l", "--label", help="Label column for claims that name only a value (\"never DOG where ...\").")
@click.option("--id", "ids", multiple=True, help="Identifier column naming counter-examples (repeatable).")
@click.option("--alpha", type=float, default=0.05, show_default=True, callback=_checked("alpha"),
              help="Family-wise error rate of the claims (Holm).")
@click.option("--model", type=click.Choice(["iut", "overall"]), default="iut", show_default=True,
              help="iut: a claim must also beat every parent cell; overall: the label's overall rate only.")
@click.option("--fail-on", type=click.Choice(["never", "contradicted", "unsupported"]), default="never",
              show_default=True, help="Exit with code 1 when a claim is contradicted (or not supported).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the answer here (atomically).")
@NUMBER_OF_BINS_OPTION
@MAX_LEVELS_OPTION
@ENCODING_OPTION
@CONFIG_OPTIONS
@RUN_OPTIONS
def claim_command(data, claims, label, ids, alpha, model, fail_on, fmt, output, bins, max_levels, encoding,
                  config_path, no_config, quiet, debug, limits=()):
    """Check CLAIMS about DATA stated before looking: never, always or can.

    A claim reads "never species=DOG where size=small, color=white" (or "always ...", "can ...").
    The claims of one call form their own family, Holm-corrected."""
    from ..tools.claims import check_claims
    from ..loaders import load

    def work():
        ctx = click.get_current_context()
        cfg = _load_config(config_path, no_config)
        with _limits(cfg, limits):
            return claim_work(ctx, cfg)

    def claim_work(ctx, cfg):
        o = _with_config(ctx, cfg, dict(label=label, ids=ids, alpha=alpha, bins=bins, max_levels=max_levels,
                                        reference=None, reference_group={}, fail_on="never", no_probe=True))
        inputs = RunInputs()
        inputs.add("data", data)
        inputs.add("configuration", cfg.path)
        inputs.check_output("-o", output)
        results = check_claims(load(data, encoding=encoding), list(claims), label=o["label"], alpha=o["alpha"],
                               ids=list(o["ids"]) or None, bins=o["bins"], max_levels=o["max_levels"], model=model)
        if fmt == "json":
            import json
            text = json.dumps({"source": data, "alpha": o["alpha"], "correction": "holm", "model": model,
                               "claims": [r.to_dict() for r in results]}, indent=2, ensure_ascii=False,
                              allow_nan=False) + "\n"
        else:
            n = results[0].n if results else 0
            lines = [f"biasaudit claims — {data} ({n:,} rows, label {results[0].label}); {len(results)} claim(s), "
                     f"Holm-corrected at alpha {o['alpha']:g}"]
            for r in results:
                lines += [f"[{r.verdict}] {r.claim}", f"    {r.message}."]
            text = escape_text("\n".join(lines) + "\n")
        if output:
            from ..report._atomic import atomic_write_text
            atomic_write_text(output, text)
            if not quiet:
                _say(f"biasaudit: wrote {fmt} answer to {output}")
        else:
            click.echo(text, nl=False)
        bad = {"never": (), "contradicted": ("contradicted",),
               "unsupported": ("contradicted", "not established")}[fail_on]
        return [r for r in results if r.verdict in bad]

    if _run(debug, work):
        sys.exit(EXIT_FOUND)


def _finish_scan(result, o: dict, cfg, plan, accept, write_baseline, timestamp: bool, quiet: bool) -> list:
    """Compare with the baseline, write the reports and the baseline; return the failing ids."""
    from dataclasses import replace

    from .baseline import compare_baseline, write_baseline as _write_baseline
    from .checks import failing_findings
    from .config import Accepted, is_accepted
    from ..report import render, write_report

    def note(text: str) -> None:
        if not quiet:
            _say(f"biasaudit: {text}")

    accepted = tuple(Accepted(a) for a in accept) + tuple(cfg.accept)
    fail_on = o["fail_on"]
    comparison = None
    if o["baseline"]:
        if not o["fail_on_set"]:
            fail_on = "medium"
        comparison = compare_baseline(result, o["baseline"], fail_on=fail_on, accept=accepted)
        failing = [f.id for f in comparison.failing]
        result = replace(result, sections={**result.sections, "baseline": comparison.to_dict()})
        for line in comparison.lines():
            note(line)
    else:
        failing = [f.id for f in failing_findings(result, fail_on, accepted)]
    accepted_ids = {}
    for f in result.findings:
        hit = is_accepted(f.id, accepted)
        if hit is not None:
            accepted_ids[f.id] = hit.reason
    for fmt, path in plan:
        options = {}
        if fmt == "html" and timestamp:
            options["timestamp"] = True
        if fmt == "text":
            options.update(o.get("text_options") or {})
        if fmt in ("junit", "sarif"):
            options.update(fail_on=fail_on, failing=failing, accepted=accepted_ids)
        if fmt == "sarif" and comparison is not None:
            options["baseline_state"] = comparison.baseline_state()
        if path:
            write_report(result, path, fmt, **options)
            note(f"wrote {fmt} report to {path}")
        else:
            click.echo(render(result, fmt, **options), nl=False)
    if write_baseline:
        _write_baseline(result, write_baseline)
        n = sum(1 for f in result.findings if f.explained_by is None)
        note(f"wrote baseline ({n} findings) to {write_baseline}")
        return []
    return failing


def main(args=None) -> None:
    """Entry point of the ``biasaudit`` command (``args``: the arguments, default ``sys.argv[1:]``)."""
    argv = list(sys.argv[1:] if args is None else args)
    try:
        cli.main(args=argv, prog_name="biasaudit", standalone_mode=False)
    except click.exceptions.Abort:
        _echo_err("biasaudit: aborted")
        sys.exit(EXIT_BAD)
    except click.ClickException as exc:
        if isinstance(exc, _Fail):
            exc.show()
        else:
            _echo_err(f"biasaudit: error: {exc.format_message()}")
        sys.exit(EXIT_BAD)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except Exception as exc:  # a bug: still one line unless --debug
        if "--debug" in argv:
            raise
        _echo_err(f"biasaudit: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)")
        sys.exit(EXIT_BAD)


cli.main_entry = main  # for ``python -m biasaudit``
