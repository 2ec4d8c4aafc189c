"""SQL sources: a database table or query, reached through SQLAlchemy, with the password masked.

A source is a ``postgresql://``, ``sqlite:///`` or ``duckdb:///`` URL (any SQLAlchemy URL with an
installed driver), a ``.sqlite``/``.db``/``.duckdb`` file, or a SQLAlchemy ``Engine`` or
``Connection``, together with ``table=`` (a table or view) or ``query=`` (one SELECT statement).
:func:`open_relation` connects, finds the relation and the kind of each column; nothing in this
module pastes a name or a value into SQL text: tables are reflected, columns are SQLAlchemy
column objects (quoted by the dialect) and values are bound parameters.  A user's ``query`` is SQL
the user wrote; it is wrapped as a subquery, never edited.

Every error a user can cause (no driver, unreachable server, wrong password, missing table,
a column type that cannot be audited) is a :class:`SqlSourceError` with a one-line message in
which the password of the URL is replaced by ``***``.
"""
from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputFileError
from .sqltypes import columns_of, infer_unknown, is_integer_type, kind_of_type

__all__ = ["SqlSourceError", "Relation", "open_relation", "is_sql_source", "mask_url", "sql_url_of_path",
           "SQL_SUFFIXES", "NEED_SQLALCHEMY", "NEED_TABLE", "TABLE_AND_QUERY", "NO_SUCH_TABLE",
           "UNSUPPORTED_TYPE", "CANNOT_CONNECT", "QUERY_FAILED", "NOT_A_SELECT"]

#: File suffixes read as databases (SQLite, or DuckDB for ``.duckdb``).
SQL_SUFFIXES = (".sqlite", ".sqlite3", ".db", ".duckdb")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_SQL_SCHEMES = ("postgresql", "postgres", "sqlite", "duckdb", "mysql", "mariadb", "mssql", "oracle", "snowflake",
                "redshift", "bigquery", "trino", "cockroachdb")

# Error messages (module constants so that tests can import them); formatted with str.format.
NEED_SQLALCHEMY = ("Auditing a database needs SQLAlchemy and the database's driver: "
                   "pip install \"biasaudit[sql]\" ({detail}).")
NEED_TABLE = ("{source}: say what to audit with --table NAME or --query \"SELECT ...\" "
              "(tables: {tables}).")
TABLE_AND_QUERY = "Give either --table or --query, not both."
NO_SUCH_TABLE = "{source}: no table or view named {table!r}{hint}. Tables: {tables}."
UNSUPPORTED_TYPE = ("{source}: column {column!r} has type {type}, which biasaudit cannot audit. Leave it out "
                    "with --query \"SELECT <other columns> FROM ...\" or cast it to text in the query.")
CANNOT_CONNECT = "Cannot connect to {source}: {reason}. Check the host, port, user and password in the URL."
QUERY_FAILED = "{source}: the database refused the query: {reason}."
NOT_A_SELECT = "--query must be one SELECT statement (got {start!r}...)."


class SqlSourceError(InputFileError):
    """A database source cannot be read (driver, connection, table, query or column type)."""


def mask_url(url) -> str:
    """The URL as text with its password replaced by ``***`` (``postgresql://u:***@host/db``)."""
    try:
        from sqlalchemy.engine import make_url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses: hide whatever sits between ':' and '@'
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", str(url))


def _scrub(text: str, secret: str | None) -> str:
    text = re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)
    if secret:
        text = text.replace(secret, "***")
    return text


def sql_url_of_path(path) -> str | None:
    """``sqlite:///<abs path>`` or ``duckdb:///<abs path>`` for a database file, else None."""
    p = Path(os.fspath(path))
    suffix = p.suffix.lower()
    if suffix not in SQL_SUFFIXES:
        return None
    if suffix == ".duckdb":
        return f"duckdb:///{p.resolve()}"
    if suffix == ".db" and p.is_file() and _is_duckdb_file(p):
        return f"duckdb:///{p.resolve()}"
    return f"sqlite:///{p.resolve()}"


def _is_duckdb_file(p: Path) -> bool:
    with open(p, "rb") as fh:
        head = fh.read(16)
    return head[8:12] == b"DUCK"


def is_sql_source(data) -> bool:
    """True for a database URL, a database file path, or a SQLAlchemy engine / connection."""
    mod = type(data).__module__ or ""
    if mod.startswith("sqlalchemy") and hasattr(data, "dialect"):
        return True
    if isinstance(data, (str, os.PathLike)):
        text = os.fspath(data)
        if isinstance(text, str) and _URL.match(text):
            scheme = text.split("://", 1)[0].split("+", 1)[0].lower()
            return scheme in _SQL_SCHEMES
        return Path(text).suffix.lower() in SQL_SUFFIXES
    return False


def _sqlalchemy():
    try:
        import sqlalchemy
    except ImportError as exc:
        raise SqlSourceError(NEED_SQLALCHEMY.format(detail="SQLAlchemy is not installed")) from exc
    return sqlalchemy


def _engine_for(url: str):
    """A SQLAlchemy engine for ``url`` (psycopg 3 for a bare postgresql:// URL)."""
    sa = _sqlalchemy()
    from sqlalchemy.engine import make_url
    try:
        u = make_url(url)
    except Exception as exc:
        raise SqlSourceError(f"{mask_url(url)} is not a database URL SQLAlchemy understands "
                             f"({str(exc).splitlines()[0]}).") from None
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    kwargs = {}
    if u.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": 10}
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        if not Path(u.database).is_file():  # sqlite would create an empty file: the input is never modified
            raise SqlSourceError(f"Database file not found: {u.database}. Check the path and try again.")
    if u.get_backend_name() == "duckdb" and u.database and u.database != ":memory:":
        if not Path(u.database).is_file():
            raise SqlSourceError(f"Database file not found: {u.database}. Check the path and try again.")
        kwargs["connect_args"] = {"read_only": True}
    try:
        return sa.create_engine(u, poolclass=sa.pool.NullPool, **kwargs), u.password
    except ImportError as exc:  # the dialect's driver
        raise SqlSourceError(NEED_SQLALCHEMY.format(detail=f"{exc.name or exc} is missing")) from None
    except sa.exc.NoSuchModuleError as exc:
        raise SqlSourceError(NEED_SQLALCHEMY.format(detail=str(exc).splitlines()[0])) from None


@dataclass
class Relation:
    """A table or query of a connected database, ready for the summary and counting queries.

    Attributes
    ----------
    conn : sqlalchemy.engine.Connection
    rel : sqlalchemy selectable (a reflected ``Table`` or a subquery of the user's query)
    columns : list of str
        Column names, in the relation's order.
    kinds : dict
        Column -> ``"num"``, ``"text"`` or ``"typed"`` (as :class:`~biasaudit.engine.sources.Source` kinds).
    int_columns : set
        Numeric columns of an integer type.
    dialect : str
        ``"postgresql"``, ``"sqlite"``, ``"duckdb"``, ...
    description : str
        What is audited, with the password masked (``postgresql://u:***@host/db, table loans``).
    """

    conn: object
    rel: object
    columns: list
    kinds: dict
    int_columns: set
    dialect: str
    description: str
    source: str
    secret: str | None = None
    _engine: object = None
    _owns: list = field(default_factory=list)

    def col(self, name: str):
        """The SQLAlchemy column object of ``name`` (quoted by the dialect)."""
        return self.rel.c[name]

    def execute(self, stmt, what: str = "query"):
        """Run ``stmt``; a database error becomes a one-line :class:`SqlSourceError` (password masked)."""
        sa = _sqlalchemy()
        try:
            return self.conn.execute(stmt)
        except sa.exc.DBAPIError as exc:
            raise SqlSourceError(QUERY_FAILED.format(source=self.source, reason=_reason(exc, self.secret))) from None

    def close(self) -> None:
        for thing in reversed(self._owns):
            try:
                thing.close() if hasattr(thing, "close") and not hasattr(thing, "dispose") else thing.dispose()
            except Exception:  # pragma: no cover - closing is best effort
                pass
        self._owns.clear()


def _reason(exc, secret: str | None) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("(Background")]
    # psycopg puts the useful part last ("connection failed: ... failed: Connection refused")
    reason = lines[0] if lines else type(exc).__name__
    if len(lines) > 1 and lines[0].endswith(":"):
        reason = f"{lines[0]} {lines[1]}"
    return _scrub(reason.rstrip("."), secret)


def open_relation(data, *, table: str | None = None, query: str | None = None) -> Relation:
    """Connect to ``data`` and describe ``table`` or ``query`` (see the module docstring).

    Parameters
    ----------
    data : str, path-like, sqlalchemy.engine.Engine or sqlalchemy.engine.Connection
        A database URL, a ``.sqlite``/``.db``/``.duckdb`` file, or an engine / connection.
    table : str, optional
        A table or view (``schema.table`` when the name is not found as given).
    query : str, optional
        One SELECT statement; the audit reads its result.
    """
    sa = _sqlalchemy()
    if table is not None and query is not None:
        raise SqlSourceError(TABLE_AND_QUERY)
    owns, secret = [], None
    if isinstance(data, (str, os.PathLike)):
        text = os.fspath(data)
        url = text if _URL.match(text) else sql_url_of_path(text)
        if url is None:
            raise SqlSourceError(f"{text} is not a database URL or file.")
        if not _URL.match(text) and not Path(text).is_file():
            raise SqlSourceError(f"Database file not found: {text}. Check the path and try again.")
        engine, secret = _engine_for(url)
        owns.append(engine)
        source = mask_url(url) if _URL.match(text) else text
        try:
            conn = engine.connect()
        except sa.exc.DBAPIError as exc:
            engine.dispose()
            raise SqlSourceError(CANNOT_CONNECT.format(source=source, reason=_reason(exc, secret))) from None
        owns.append(conn)
    elif hasattr(data, "connect") and hasattr(data, "dispose"):  # an Engine
        source = mask_url(data.url)
        secret = data.url.password
        try:
            conn = data.connect()
        except sa.exc.DBAPIError as exc:
            raise SqlSourceError(CANNOT_CONNECT.format(source=source, reason=_reason(exc, secret))) from None
        owns.append(conn)
    else:  # a Connection: used as given, left open
        conn = data
        source = mask_url(conn.engine.url)
        secret = conn.engine.url.password
    dialect = conn.dialect.name
    try:
        if query is not None:
            rel, columns, kinds, ints, what = _query_relation(sa, conn, query, source, secret)
        else:
            rel, columns, kinds, ints, what = _table_relation(sa, conn, table, source, secret)
    except BaseException:
        for thing in reversed(owns):
            thing.close() if not hasattr(thing, "dispose") else thing.dispose()
        raise
    out = Relation(conn, rel, columns, kinds, ints, dialect, f"{source}, {what}", source, secret, _owns=owns)
    return out


def _tables(sa, conn) -> list:
    insp = sa.inspect(conn)
    names = list(insp.get_table_names()) + list(insp.get_view_names())
    return sorted(dict.fromkeys(names))


def _table_relation(sa, conn, table, source, secret):
    try:
        names = _tables(sa, conn)
    except sa.exc.DBAPIError as exc:
        raise SqlSourceError(CANNOT_CONNECT.format(source=source, reason=_reason(exc, secret))) from None
    shown = ", ".join(map(repr, names[:20])) + (" ..." if len(names) > 20 else "") if names else "none"
    if table is None:
        if len(names) == 1:
            table = names[0]
        else:
            raise SqlSourceError(NEED_TABLE.format(source=source, tables=shown))
    schema, name = None, str(table)
    insp = sa.inspect(conn)
    if name not in names and not insp.has_table(name) and "." in name:
        schema, name = name.split(".", 1)
    try:
        found = insp.has_table(name, schema=schema)
        if not found and schema is None:
            found = name in names
    except sa.exc.DBAPIError:
        found = False
    if not found:
        close = difflib.get_close_matches(str(table), names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SqlSourceError(NO_SUCH_TABLE.format(source=source, table=str(table), hint=hint, tables=shown))
    try:
        cols = columns_of(sa, conn, name, schema)
    except sa.exc.DBAPIError as exc:
        raise SqlSourceError(QUERY_FAILED.format(source=source, reason=_reason(exc, secret))) from None
    columns = [n for n, _ in cols]
    kinds, ints = {}, set()
    for n, t in cols:
        kinds[n] = kind_of_type(t)
        if kinds[n] == "unsupported":
            raise SqlSourceError(UNSUPPORTED_TYPE.format(source=source, column=n, type=str(t)))
        if kinds[n] == "num" and is_integer_type(t):
            ints.add(n)
    rel = sa.table(name, *[sa.column(n, t) for n, t in cols], schema=schema)
    _check_kinds(sa, conn, rel, kinds, ints, source, secret)
    return rel, columns, kinds, ints, f"table {str(table)!r}"


def _query_relation(sa, conn, query, source, secret):
    q = str(query).strip().rstrip(";").strip()
    first = q.split(None, 1)[0].upper() if q else ""
    if first not in ("SELECT", "WITH", "VALUES", "TABLE", "(", "FROM") and not q.startswith("("):
        raise SqlSourceError(NOT_A_SELECT.format(start=q[:20]))
    escaped = q.replace(":", r"\:")  # a colon in the user's SQL is text, not a bind parameter
    try:
        probe = sa.select(sa.literal_column("*")).select_from(sa.text(escaped).columns().subquery("q")).limit(0)
        keys = list(conn.execute(probe).keys())
    except sa.exc.DBAPIError as exc:
        raise SqlSourceError(QUERY_FAILED.format(source=source, reason=_reason(exc, secret))) from None
    if len(set(keys)) != len(keys):
        dup = next(k for i, k in enumerate(keys) if k in keys[:i])
        raise SqlSourceError(f"--query returns column {dup!r} more than once; give the copies distinct names "
                             f"with AS.")
    rel = sa.text(escaped).columns(*[sa.column(k) for k in keys]).subquery("q")
    kinds = {k: None for k in keys}
    ints: set = set()
    _check_kinds(sa, conn, rel, kinds, ints, source, secret)
    return rel, keys, kinds, ints, "query"


def _check_kinds(sa, conn, rel, kinds: dict, ints: set, source: str, secret) -> None:
    """Kinds of untyped columns from their values; a one-line error for a type biasaudit cannot audit."""
    try:
        bad = infer_unknown(sa, conn, rel, kinds, ints)
    except sa.exc.DBAPIError as exc:
        raise SqlSourceError(QUERY_FAILED.format(source=source, reason=_reason(exc, secret))) from None
    for c, name in bad.items():
        raise SqlSourceError(UNSUPPORTED_TYPE.format(source=source, column=c, type=name))
