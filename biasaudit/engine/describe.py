"""What the engine tells the report: the dataset block and the engine section (one way for every input)."""
from __future__ import annotations

import pandas as pd

from .levels import MISSING

__all__ = ["dataset_info", "engine_section"]


def dataset_info(scan, source: str) -> dict:
    """The ``dataset`` block of the audit result, from the summaries and the count store."""
    roles, store = scan.roles, scan.store
    label_counts = store.count(roles.label)
    cols = []
    for c in scan.columns:
        t = scan.typed[c]
        n_u = t.n_unique_all if t.n_unique_all is not None else int(pd.Series(scan.sample.cols[c]).nunique())
        cols.append({"name": str(c), "kind": roles.kinds.get(c, "excluded"), "n_unique": int(n_u),
                     "n_missing": int(t.n_missing_all)})
    for c, parent in roles.derived.items():
        counts = store.count(c).counts
        n_u = int(sum(1 for name, k in zip(scan.levels[c], counts) if k > 0 and name != MISSING))
        cols.append({"name": c, "kind": "derived", "derived_from": parent, "n_unique": n_u,
                     "n_missing": int(scan.typed[parent].null_kept)})
    attrs = scan.source.frame.attrs if scan.source is not None and scan.source.frame is not None else {}
    return {
        "source": source, "n_rows": int(scan.n_rows), "n_rows_audited": int(scan.n_kept),
        "n_weighted": float(store.n) if roles.weight else None,
        "label": roles.label, "label_values": list(roles.label_values), "positive": roles.positive,
        "label_counts": {v: label_counts.counts[i] for i, v in enumerate(label_counts.levels[0])},
        "sensitive": list(roles.sensitive), "attributes": list(roles.attributes),
        "ids": list(roles.ids), "weight": roles.weight, "bins": dict(roles.bins),
        "derived": dict(roles.derived), "excluded": dict(roles.excluded),
        "notes": list(attrs.get("biasaudit_notes", [])) + list(roles.notes) + engine_notes(scan),
        "skipped": list(attrs.get("biasaudit_skipped", [])), "columns": cols,
    }


def engine_notes(scan) -> list:
    """Notes for the user when something rests on a partial sample (none when every row was used)."""
    out = []
    readers = getattr(scan, "sample_readers", [])
    if readers and not scan.sample_complete:
        out.append(f"Detectors that read rows ({', '.join(readers)}) ran on a seeded sample of "
                   f"{len(scan.sample.rows):,} of {scan.n_rows:,} rows; their findings are approximate "
                   f"(raise --sample-rows for exact ones).")
    out += [f"Approximate: {a}." for a in scan.approximate]
    return out


def engine_section(scan, engine: str) -> dict:
    """What the engine did, for the report's method section (no timings: a report is reproducible;
    a ``progress`` callback sees every stage start)."""
    n_s = len(scan.sample.rows)
    exact_rows = scan.sample_complete
    how = f"in chunks of {scan.chunk_rows:,} rows" if scan.chunk_rows else "partition by partition"
    text = [f"Engine: {scan.description}, {scan.n_rows:,} rows read {how}; {len(scan.tables)} count table(s) "
            f"precomputed and added up chunk by chunk."]
    if scan.roles.bins:
        approx = {a.split(":")[0] for a in scan.approximate}
        text.append("Numeric attributes binned at rounded quantiles with a bottom and a top 5% bin: "
                    + ", ".join(f"{c} ({'from the row sample' if c in approx else 'every value'})"
                                for c in scan.roles.bins) + ".")
    readers = list(getattr(scan, "sample_readers", []))
    if readers:
        text.append(f"Detectors that read rows ({', '.join(readers)}) used a seeded uniform sample of {n_s:,} rows"
                    + (" (every row: exact)." if exact_rows else "; their findings are approximate."))
    recounted = list(scan.store.recounted) if scan.store is not None else []
    if recounted:
        text.append(f"{len(recounted)} table(s) no detector declared were counted by another pass over the codes.")
    skipped = list(getattr(scan, "skipped", []))
    if skipped:
        text.append("Not done: " + "; ".join(skipped) + ".")
    return {"engine": engine, "chunk_rows": scan.chunk_rows, "n_rows": int(scan.n_rows), "sample_rows": n_s,
            "sample_complete": exact_rows, "tables": [list(t) for t in scan.tables],
            "sample_readers": readers, "row_detectors": {d: "reads rows (declared)" for d in readers},
            "skipped": skipped, "approximate": list(scan.approximate), "recounted": recounted, "text": text}
