"""Column kinds of a database relation: what SQLAlchemy types (or values) audit as numbers, text or typed values.

``"num"`` (integers, decimals, floats), ``"text"`` (strings: typed like a CSV column, so numbers and
true/false written as text become numbers and booleans), ``"typed"`` (booleans, dates, times, UUIDs,
taken as they are) or ``"unsupported"`` (binary, JSON, arrays, structs: the scan stops with a message).
Columns without a declared type (SQLite, a query's columns) take the kind of their first non-missing value.
"""
from __future__ import annotations

import datetime as _dt
import decimal
import uuid

__all__ = ["kind_of_type", "kind_of_python", "is_integer_type", "columns_of", "infer_unknown"]


def kind_of_type(sa_type) -> str | None:
    """``"num"``, ``"text"``, ``"typed"``, ``"unsupported"`` from a SQLAlchemy type; None when unknown."""
    import sqlalchemy.types as t
    if isinstance(sa_type, _Unsupported):
        return "unsupported"
    if isinstance(sa_type, t.NullType):
        return None
    if isinstance(sa_type, t.Boolean):
        return "typed"
    if isinstance(sa_type, (t.Integer, t.Numeric, t.Float)):
        return "num"
    if isinstance(sa_type, (t.String, t.Enum)):
        return "text"
    if isinstance(sa_type, (t.Date, t.DateTime, t.Time, t.Interval, t.Uuid)):
        return "typed"
    try:
        py = sa_type.python_type
    except (NotImplementedError, AttributeError):
        py = None
    return kind_of_python(py) if py is not None else "unsupported"


def kind_of_python(py: type) -> str:
    if issubclass(py, bool):
        return "typed"
    if issubclass(py, (int, float, decimal.Decimal)):
        return "num"
    if issubclass(py, str):
        return "text"
    if issubclass(py, (_dt.date, _dt.time, _dt.timedelta, uuid.UUID)):
        return "typed"
    return "unsupported"


def columns_of(sa, conn, name, schema) -> list:
    """(name, SQLAlchemy type) of each column of a table, in order (DuckDB: from information_schema).

    Database errors are SQLAlchemy's (the caller words them).
    """
    try:
        return [(c["name"], c["type"]) for c in sa.inspect(conn).get_columns(name, schema=schema)]
    except sa.exc.DBAPIError:
        conn.rollback()
        if conn.dialect.name != "duckdb":  # duckdb_engine reflects through pg_catalog tables DuckDB lacks
            raise
    cols = sa.table("columns", sa.column("column_name"), sa.column("data_type"), sa.column("table_name"),
                    sa.column("table_schema"), sa.column("ordinal_position"), schema="information_schema")
    stmt = sa.select(cols.c.column_name, cols.c.data_type).where(cols.c.table_name == name)
    if schema is not None:
        stmt = stmt.where(cols.c.table_schema == schema)
    rows = conn.execute(stmt.order_by(cols.c.ordinal_position)).fetchall()
    return [(n, _duckdb_type(t)) for n, t in rows]


def _duckdb_type(name: str):
    """A SQLAlchemy type for a DuckDB type name (NullType for nested and binary types)."""
    import sqlalchemy.types as t
    u = name.upper()
    if any(x in u for x in ("[", "STRUCT", "MAP", "UNION", "JSON", "BLOB", "BIT", "VARIANT")):
        return _Unsupported(name)
    if u == "BOOLEAN":
        return t.Boolean()
    if u.startswith("DECIMAL") or u.startswith("NUMERIC"):
        scale = int(u.rstrip(")").split(",")[1]) if "," in u else 0
        return t.Numeric(scale=scale)
    if "INT" in u:
        return t.BigInteger()
    if u in ("FLOAT", "DOUBLE", "REAL") or u.startswith("FLOAT") or u.startswith("DOUBLE"):
        return t.Float()
    if "CHAR" in u or u in ("TEXT", "STRING", "UUID"):
        return t.String()
    if u.startswith(("DATE", "TIME", "INTERVAL")):
        return t.DateTime() if "TIMESTAMP" in u else t.Date() if u == "DATE" else t.Time() if u.startswith(
            "TIME") else t.Interval()
    return _Unsupported(name)


class _Unsupported:
    """A column type biasaudit does not audit (binary, nested, JSON ...); prints as the database's name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return self.name


def is_integer_type(sa_type) -> bool:
    import sqlalchemy.types as t
    if isinstance(sa_type, _Unsupported):
        return False
    if isinstance(sa_type, t.Integer):
        return True
    return isinstance(sa_type, t.Numeric) and not isinstance(sa_type, t.Float) and sa_type.scale == 0


def infer_unknown(sa, conn, rel, kinds: dict, ints: set) -> dict:
    """Fill in the kinds of columns without a declared type from their first non-missing value.

    Returns the unsupported columns and their type names; database errors are SQLAlchemy's.
    """
    unknown = [c for c, k in kinds.items() if k is None]
    seen: dict = {}
    if unknown:
        rows = conn.execute(sa.select(*[rel.c[c] for c in unknown]).limit(1000)).fetchall()
        for j, c in enumerate(unknown):
            v = next((r[j] for r in rows if r[j] is not None), None)
            if v is None:
                v = conn.execute(sa.select(rel.c[c]).where(rel.c[c].is_not(None)).limit(1)).scalar()
            kinds[c] = kind_of_python(type(v)) if v is not None else "text"
            if kinds[c] == "unsupported":
                seen[c] = type(v).__name__
            if kinds[c] == "num" and isinstance(v, int) and not isinstance(v, bool):
                ints.add(c)
    out = {}
    for c, k in kinds.items():
        if k == "unsupported":
            t = getattr(rel.c[c], "type", None)
            out[c] = seen.get(c) or (str(t) if t is not None and type(t).__name__ != "NullType" else "unknown")
    return out
