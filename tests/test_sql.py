"""The SQL engine: a table in SQLite, DuckDB or PostgreSQL audits exactly as the same data in a CSV file.

The reference is ``engine="memory"`` on the CSV file (the loader reads it on its own); counts are
also checked against ``pandas.crosstab`` on the generated frame.  PostgreSQL tests use the server
named by ``BIASAUDIT_TEST_POSTGRES`` (``.ci/run`` starts one with ``.ci/postgres``); they skip when
it is not set, and fail under CI=true, where it must be.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

sa = pytest.importorskip("sqlalchemy", reason="SQLAlchemy is not installed (pip install 'biasaudit[sql]')")
duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed (pip install 'biasaudit[sql]')")

import biasaudit as ba  # noqa: E402
from biasaudit.engine import sql as bsql  # noqa: E402
from biasaudit.engine import summaries as _summaries  # noqa: E402
from biasaudit.engine.sample import sample_raw  # noqa: E402
from biasaudit.engine.scan import choose_engine  # noqa: E402
from biasaudit.engine.sqlscan import scan_sql  # noqa: E402
from test_stream import assert_same_audit  # noqa: E402

N = 800
#: A column name with a quote, spaces and SQL in it: quoted by SQLAlchemy, never pasted.
ODD = 'grade "x"; DROP TABLE loans; --'
PG_ENV = "BIASAUDIT_TEST_POSTGRES"


def loans_frame(n: int = N, seed: int = 0) -> pd.DataFrame:
    """Text (padded, missing), integers, floats (missing), booleans, a multi-valued column, an id."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "loan_id": [f"L{i:06d}" for i in range(n)],
        "region": rng.choice(["north", "south", " east", "west "], n),
        "age": rng.integers(18, 80, n),
        "income": np.where(rng.random(n) < .05, np.nan, np.round(rng.lognormal(10, .5, n), 2)),
        "kids": rng.integers(0, 4, n),
        "member": rng.choice([True, False], n),
        "tags": rng.choice(["a", "b", "a|b", "c", "b|c"], n),
        ODD: pd.Series(rng.choice(["A", "B", "C", None], n, p=[.35, .3, .25, .1]), dtype=object),
        "label": rng.choice(["approved", "denied"], n, p=[.6, .4]),
    })
    df.loc[(df["region"] == "north") & (rng.random(n) < .5), "label"] = "denied"
    df.loc[rng.random(n) < 0.01, "label"] = None
    return df


def _write_sqlite(df: pd.DataFrame, path, table: str = "loans") -> str:
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    with engine.begin() as c:
        df.to_sql(table, c, index=False, if_exists="replace")
    engine.dispose()
    return url


def _write_duckdb(df: pd.DataFrame, path, table: str = "loans") -> str:
    con = duckdb.connect(str(path))
    con.register("frame", df)
    con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM frame')  # test setup, fixed name
    con.close()
    return f"duckdb:///{path}"


def _pg_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{PG_ENV} is not set under CI; .ci/run starts a PostgreSQL server and sets it.")
        pytest.skip(f"no PostgreSQL server configured (set {PG_ENV}, e.g. from `.ci/postgres start DIR`)")
    return url


def _pg_engine(url: str):
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sql")
    df = loans_frame()
    csv = folder / "loans.csv"
    df.to_csv(csv, index=False)
    return {"frame": df, "csv": csv, "folder": folder, "memory": ba.audit(csv, engine="memory", probe=False),
            "sqlite": _write_sqlite(df, folder / "loans.sqlite"), "duckdb": _write_duckdb(df, folder / "loans.duckdb")}


@pytest.fixture(scope="module")
def pg(data):
    url = _pg_url()
    engine = _pg_engine(url)
    table = f"loans_{os.getpid()}"
    with engine.begin() as c:
        data["frame"].to_sql(table, c, index=False, if_exists="replace")
    yield {"url": url, "table": table, "engine": engine}
    with engine.begin() as c:
        c.execute(sa.text(f'DROP TABLE IF EXISTS "{table}"'))
    engine.dispose()


def counted(data, **kw):
    """Pass one, the roles and pass two (the base plan, no row hashes) of a database: the scan, closed."""
    sc = scan_sql(data, **kw)
    try:
        sc.count()
    finally:
        sc.close()
    return sc


def _source(request, data, which):
    if which == "postgresql":
        p = request.getfixturevalue("pg")
        return p["url"], p["table"]
    return data[which], "loans"


# ----------------------------------------------------------------------------- whole audits
@pytest.mark.parametrize("which", ["sqlite", "duckdb", "postgresql"])
def test_database_audit_equals_the_csv_scan(request, data, which):
    url, table = _source(request, data, which)
    b = ba.audit(url, table=table, probe=False)
    assert_same_audit(data["memory"], b)
    eng = b.sections["engine"]
    assert eng["engine"] == "sql" and eng["dialect"] == which
    assert eng["sample_complete"] and eng["sample_rows"] == N
    assert "computed in the database" in eng["text"][0]
    assert b.dataset["source"].endswith(f"table '{table}'")
    assert "rows read once through the client for the row hash counts" in eng["text"][0]


def test_the_probe_reads_the_same_sample(data):
    # every row is in the sample (800 < 200,000), in the table's order: the probe's findings are the CSV's
    a = ba.audit(data["csv"], engine="memory", detectors=["probe"])
    b = ba.audit(data["duckdb"], table="loans", detectors=["probe"])
    assert a.sections["probe"]["models"] and b.sections["engine"]["sample_readers"] == ["probe"]
    assert_same_audit(a, b)  # the probe's section (models, rules, flips) included


@pytest.mark.parametrize("which", ["sqlite", "duckdb", "postgresql"])
def test_count_tables_equal_an_independent_pandas_count(request, data, which):
    url, table = _source(request, data, which)
    sc = counted(url, table=table)
    df = data["frame"].dropna(subset=["label"])
    got = sc.store.count("region", "label")
    want = pd.crosstab(df["region"].str.strip(), df["label"])
    assert got.levels == (tuple(want.index), tuple(want.columns))
    np.testing.assert_array_equal(got.counts, want.to_numpy())
    # a column with missing values: the "(missing)" level counts NULLs
    g = sc.store.count(ODD)
    vals = df[ODD].fillna("(missing)").value_counts()
    assert dict(zip(g.levels[0], g.counts.tolist())) == vals.to_dict()
    assert sc.n_rows == N and sc.n_kept == len(df)


@pytest.mark.parametrize("which", ["sqlite", "duckdb", "postgresql"])
def test_a_query_audits_its_result(request, data, which):
    url, table = _source(request, data, which)
    b = ba.audit(url, query=f'SELECT region, age, kids, label FROM "{table}" WHERE age > 30;', probe=False)
    sub = data["frame"].loc[data["frame"]["age"] > 30, ["region", "age", "kids", "label"]]
    path = data["folder"] / f"query_{which}.csv"
    sub.to_csv(path, index=False)
    assert_same_audit(ba.audit(path, engine="memory", probe=False), b)
    assert b.dataset["source"].endswith(", query")


def test_an_engine_and_a_connection_are_audited_and_left_open(data):
    engine = sa.create_engine(data["sqlite"])
    with engine.connect() as conn:
        b = ba.audit(conn, table="loans", probe=False)
        assert conn.execute(sa.text("SELECT count(*) FROM loans")).scalar() == N  # still usable
    a = ba.audit(data["csv"], engine="memory", probe=False)
    assert_same_audit(a, b)
    assert_same_audit(a, ba.audit(engine, table="loans", probe=False))
    engine.dispose()


def test_weighted_table_equals_the_csv_scan(tmp_path):
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"g": rng.choice(["a", "b", "c"], 300), "h": rng.choice(["u", "v"], 300),
                       "n": rng.integers(0, 9, 300), "y": rng.choice(["p", "q"], 300)})
    df.to_csv(tmp_path / "w.csv", index=False)
    a = ba.audit(tmp_path / "w.csv", weight="n", label="y", engine="memory", probe=False)
    for url in (_write_sqlite(df, tmp_path / "w.sqlite"), _write_duckdb(df, tmp_path / "w.duckdb")):
        b = ba.audit(url, table="loans", weight="n", label="y", probe=False)
        assert_same_audit(a, b)
        assert b.dataset["n_weighted"] == df["n"].sum()


def test_columns_beyond_the_dictionary_are_summarised_by_the_database(data, monkeypatch):
    # 40 distinct values at most in a dictionary: loan_id and region stay exact, loan_id is id-like
    monkeypatch.setattr(_summaries, "DICT_CAP", 40)
    b = ba.audit(data["duckdb"], table="loans", probe=False)
    assert_same_audit(data["memory"], b)
    assert "loan_id" in b.dataset["ids"]


def test_numbers_beyond_the_exact_cap_are_binned_from_the_sample(data, monkeypatch):
    monkeypatch.setattr(_summaries, "NUM_EXACT_CAP", 100)
    sc = counted(data["sqlite"], table="loans", sample_rows=500)
    assert any(a.startswith("income:") for a in sc.approximate)
    counts = sc.store.count("income").counts
    assert counts.sum() == sc.n_kept and (counts[:-1] > 0).all()
    # the bins are those of the sampled incomes (rows with a label): the same data as a DataFrame, whose
    # bins come from its exact value counts, is binned alike
    present = sc.sample.cols["__present__"]
    x = sc.sample.cols["income"][present]
    assert len(x) == 500 - (~present).sum() and np.isnan(x).sum() > 0
    raw = sample_raw(sc)[present.astype(bool)]
    frame = pd.DataFrame({"income": x, "label": raw["label"].to_numpy()})
    monkeypatch.undo()
    from biasaudit.engine.scan import scan as scan_frame
    ref = scan_frame(frame, label="label")
    assert sc.roles.bins["income"] == ref.roles.bins["income"]
    ref.close()


# ----------------------------------------------------------------------------- what crosses the wire
def test_only_counts_cross_the_wire(tmp_path, monkeypatch):
    df = loans_frame(20_000, seed=2).drop(columns=["loan_id"])
    url = _write_duckdb(df, tmp_path / "big.duckdb")
    fetched = []
    real = bsql.Relation.execute

    def counting(self, stmt, what="query"):
        res = real(self, stmt, what)
        rows = res.fetchall()
        fetched.append(len(rows))
        return _Rows(rows)
    monkeypatch.setattr(bsql.Relation, "execute", counting)
    sc = counted(url, table="loans", sample_rows=200)
    # what the client fetched: the row count, each column's value counts by label value, the sample and
    # the count tables' rows, one per combination of grouped values (bins, categories, raw parents)
    assert fetched[2] == 200
    once = list(fetched)
    assert sc.store.n == df["label"].notna().sum()
    # ten times the rows (the same values): exactly the same rows fetched, the counts ten times larger
    big = pd.concat([df] * 10, ignore_index=True)
    url = _write_duckdb(big, tmp_path / "bigger.duckdb")
    fetched.clear()
    sc10 = counted(url, table="loans", sample_rows=200)
    assert fetched == once
    assert sc10.store.n == 10 * sc.store.n
    for t, arr in sc.store.tables.items():
        np.testing.assert_array_equal(sc10.store.tables[t], 10 * arr)


def test_rows_for_the_row_hashes_are_read_from_the_database_once(data, monkeypatch):
    from biasaudit.engine.sqlscan import SqlScan
    reads, real = [], SqlScan._fetch

    def fetch(self, columns):
        for offset, m, stored in real(self, columns):
            reads.append(m)
            yield offset, m, stored
    monkeypatch.setattr(SqlScan, "_fetch", fetch)
    b = ba.audit(data["duckdb"], table="loans", probe=False)
    # duplicate rows and conflicting labels are counted in one pass; any detail pass reads the spilled codes
    assert reads == [N]
    assert_same_audit(data["memory"], b)


class _Rows:
    def __init__(self, rows):
        self.rows = rows
        self.at = 0

    def fetchmany(self, size):
        part = self.rows[self.at:self.at + size]
        self.at += len(part)
        return part

    def fetchall(self):
        return self.rows

    def one(self):
        assert len(self.rows) == 1
        return self.rows[0]

    def scalar(self):
        return self.rows[0][0] if self.rows else None


@pytest.mark.parametrize("which", ["sqlite", "duckdb", "postgresql"])
def test_the_sample_is_drawn_in_the_database_and_reproducible(request, data, which):
    url, table = _source(request, data, which)
    s1, s2, s3 = (counted(url, table=table, sample_rows=300, random_state=r) for r in (7, 7, 8))
    assert len(s1.sample.rows) == 300 and not s1.sample_complete
    ids = lambda s: sample_raw(s)["loan_id"].tolist()  # noqa: E731
    assert ids(s1) == ids(s2) and ids(s1) != ids(s3)
    assert len(set(ids(s1))) == 300 and set(ids(s1)) <= set(data["frame"]["loan_id"])
    # count-based findings stay exact whatever the sample
    b = ba.audit(url, table=table, sample_rows=300, probe=False)
    exact = {f.id: f.p_value for f in data["memory"].findings if f.detector == "group_attribution"}
    assert exact and {f.id: f.p_value for f in b.findings if f.detector == "group_attribution"} == exact
    assert any("drawn in the database" in t for t in b.sections["engine"]["text"])


# ----------------------------------------------------------------------------- hostile names, bad input
@pytest.mark.parametrize("which", ["sqlite", "duckdb", "postgresql"])
def test_names_with_quotes_spaces_and_sql_are_quoted(request, data, which, tmp_path):
    name = 'loans"; DROP TABLE loans; --'
    df = data["frame"][["region", ODD, "label"]]
    if which == "postgresql":
        url = request.getfixturevalue("pg")["url"]
        with _pg_engine(url).begin() as c:
            df.to_sql(name, c, index=False, if_exists="replace")
    elif which == "sqlite":
        url = _write_sqlite(df, tmp_path / "odd.sqlite", table=name)
        _write_sqlite(df, tmp_path / "odd.sqlite", table="loans")
    else:
        url = f"duckdb:///{tmp_path / 'odd.duckdb'}"
        con = duckdb.connect(str(tmp_path / "odd.duckdb"))
        con.register("frame", df)
        con.execute('CREATE TABLE "loans""; DROP TABLE loans; --" AS SELECT * FROM frame')
        con.execute("CREATE TABLE loans AS SELECT * FROM frame")
        con.close()
    try:
        b = ba.audit(url, table=name, probe=False)
        csv = tmp_path / "odd.csv"
        df.to_csv(csv, index=False)
        assert_same_audit(ba.audit(csv, engine="memory", probe=False), b)
        assert ODD in b.dataset["attributes"]
        if which != "postgresql":
            assert ba.audit(url, table="loans", probe=False).dataset["n_rows"] == N  # still there
    finally:
        if which == "postgresql":
            with _pg_engine(url).begin() as c:
                c.execute(sa.text('DROP TABLE IF EXISTS "loans""; DROP TABLE loans; --"'))


def _cli(*args, process: bool = False):
    """``biasaudit scan ARGS``: in this process (CliRunner) or, with ``process=True``, as a real process."""
    argv = ["scan", *args, "-q", "--no-config"]
    if process:
        return subprocess.run([sys.executable, "-m", "biasaudit", *argv], capture_output=True, text=True, timeout=300)
    from click.testing import CliRunner

    from biasaudit.integrations.cli import cli
    res = CliRunner().invoke(cli, argv)
    return subprocess.CompletedProcess(argv, res.exit_code, res.stdout, res.stderr)


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _assert_one_line(res, *needles, secret="s3cret-pw"):
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr and secret not in res.stderr + res.stdout
    for n in needles:
        assert n in lines[0], lines[0]


def test_bad_database_input_exits_2_with_one_line(data, tmp_path):
    _assert_one_line(_cli(f"postgresql://alice:s3cret-pw@127.0.0.1:{_closed_port()}/db", "--table", "loans",
                          process=True), "Cannot connect to postgresql://alice:***@127.0.0.1", "Connection refused")
    _assert_one_line(_cli(data["sqlite"], "--table", "loan"), "no table or view named 'loan'",
                     "did you mean 'loans'?")
    empty = tmp_path / "empty.sqlite"
    _write_sqlite(data["frame"].iloc[:0], empty)
    _assert_one_line(_cli(str(empty), "--table", "loans"), "has no rows")
    blob = tmp_path / "blob.duckdb"
    con = duckdb.connect(str(blob))
    con.execute("CREATE TABLE t (g VARCHAR, pic BLOB, label VARCHAR)")
    con.execute("INSERT INTO t VALUES ('a', 'x'::BLOB, 'y'), ('b', 'z'::BLOB, 'n')")
    con.close()
    _assert_one_line(_cli(str(blob), "--table", "t"), "column 'pic' has type BLOB", "--query")
    _assert_one_line(_cli(str(tmp_path / "missing.sqlite"), "--table", "t"), "Database file not found")
    assert not (tmp_path / "missing.sqlite").exists()  # sqlite would have created it
    _assert_one_line(_cli(data["sqlite"], "--query", "SELECT * FROM nowhere"), "refused the query", "nowhere")
    _assert_one_line(_cli(data["sqlite"], "--query", "DELETE FROM loans"), "one SELECT statement")
    two = tmp_path / "two.sqlite"
    _write_sqlite(data["frame"], two, table="a")
    _write_sqlite(data["frame"], two, table="b")
    _assert_one_line(_cli(str(two)), "--table NAME or --query", "tables: 'a', 'b'")


def test_a_database_with_one_table_needs_no_table_option(data):
    res = _cli(data["sqlite"], "--no-probe", "--format", "json", "--max-levels", "3")
    assert res.returncode in (0, 1), res.stderr
    assert json.loads(res.stdout)["dataset"]["source"].endswith("table 'loans'")


def test_wrong_password_is_masked(pg):
    from sqlalchemy.engine import make_url
    u = make_url(pg["url"]).set(username="secret", password="s3cret-pw")
    res = _cli(u.render_as_string(hide_password=False), "--table", pg["table"], process=True)
    _assert_one_line(res, "password authentication failed", "secret:***@")


def test_unsupported_postgres_type_and_query_column_type(pg):
    with pg["engine"].begin() as c:
        c.execute(sa.text("CREATE TABLE IF NOT EXISTS blobs_t (g text, pic bytea, label text)"))
        c.execute(sa.text("INSERT INTO blobs_t VALUES ('a', 'x', 'y'), ('b', 'z', 'n')"))
    try:
        _assert_one_line(_cli(pg["url"], "--table", "blobs_t"), "column 'pic' has type BYTEA")
        _assert_one_line(_cli(pg["url"], "--query", "SELECT g, pic, label FROM blobs_t"), "column 'pic' has type bytes")
        ok = _cli(pg["url"], "--query", "SELECT g, label FROM blobs_t WHERE g <> 'x:y'", "--format", "json")
        assert ok.returncode in (0, 1) and json.loads(ok.stdout)["dataset"]["n_rows"] == 2
    finally:
        with pg["engine"].begin() as c:
            c.execute(sa.text("DROP TABLE blobs_t"))


def test_the_database_file_is_not_modified(data):
    path = data["sqlite"].split("///", 1)[1]
    before = hashlib.sha256(open(path, "rb").read()).hexdigest(), os.path.getmtime(path)
    ba.audit(data["sqlite"], table="loans", probe=False)
    ba.audit(path, table="loans", probe=False)  # the file path itself
    assert (hashlib.sha256(open(path, "rb").read()).hexdigest(), os.path.getmtime(path)) == before


def test_cli_json_equals_the_csv_scan(data):
    out = {}
    for name, src in (("csv", str(data["csv"])), ("duckdb", data["duckdb"].split("///", 1)[1])):
        res = _cli(src, *(["--table", "loans"] if name != "csv" else ["--engine", "memory"]), "--no-probe",
                   "--format", "json")
        assert res.returncode in (0, 1), res.stderr
        out[name] = [(f["id"], f["severity"], f["p_value"]) for f in json.loads(res.stdout)["findings"]]
    assert out["csv"] == out["duckdb"] and out["csv"]


# ----------------------------------------------------------------------------- small pieces
@pytest.mark.parametrize("url, masked", [
    ("postgresql://alice:pw@db.example:5432/credit", "postgresql://alice:***@db.example:5432/credit"),
    ("postgresql://alice@db/credit", "postgresql://alice@db/credit"),
    ("duckdb:///data/x.duckdb", "duckdb:///data/x.duckdb"),
])
def test_mask_url(url, masked):
    assert bsql.mask_url(url) == masked


@pytest.mark.parametrize("source, expected", [
    ("postgresql://u@h/db", True), ("sqlite:///x.db", True), ("duckdb:///x.duckdb", True),
    ("x.sqlite", True), ("x.DB", True), ("x.duckdb", True), ("x.csv", False), ("https://h/x.csv", False),
])
def test_sql_sources_choose_the_sql_engine(source, expected):
    assert bsql.is_sql_source(source) is expected
    assert (choose_engine(source, "auto") == "sql") is expected


def test_table_and_query_need_a_database(data):
    with pytest.raises(ValueError, match="'table' and 'query'"):
        ba.audit(data["csv"], table="loans")
    with pytest.raises(ValueError, match="engine='sql'"):
        choose_engine(data["sqlite"], "stream")
    with pytest.raises(bsql.SqlSourceError, match="either --table or --query"):
        ba.audit(data["sqlite"], table="loans", query="SELECT 1")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", None]), st.sampled_from(["u", "v"]),
                          st.sampled_from(["p", "q", None])), min_size=8, max_size=60))
def test_counts_of_random_tables_equal_crosstab(rows):
    df = pd.DataFrame(rows, columns=["g", "h", "label"])
    df.loc[0, "label"], df.loc[1, "label"] = "p", "q"  # two classes
    df.loc[0, "h"], df.loc[1, "h"] = "u", "v"
    engine = sa.create_engine("sqlite://", poolclass=sa.pool.StaticPool)
    with engine.begin() as c:
        df.to_sql("t", c, index=False)
    try:
        sc = counted(engine, table="t", sample_rows=0, label="label")
    finally:
        engine.dispose()
    kept = df.dropna(subset=["label"])
    got = sc.store.count("h", "label")
    want = pd.crosstab(kept["h"], kept["label"])
    np.testing.assert_array_equal(got.counts, want.reindex(index=list(got.levels[0]),
                                                           columns=list(got.levels[1])).fillna(0).to_numpy())
    assert sc.store.n == len(kept)


def test_a_numeric_label_with_missing_values(tmp_path):
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"g": rng.choice(["a", "b"], 400), "h": rng.integers(0, 3, 400),
                       "y": rng.choice([0.0, 1.0], 400)})
    df.loc[rng.random(400) < .1, "y"] = np.nan
    df.to_csv(tmp_path / "n.csv", index=False)
    a = ba.audit(tmp_path / "n.csv", engine="memory", label="y", probe=False)
    b = ba.audit(_write_duckdb(df, tmp_path / "n.duckdb"), table="loans", label="y", probe=False)
    assert_same_audit(a, b)
    assert b.dataset["n_rows_audited"] == df["y"].notna().sum()
