import gzip
import io
import zipfile

import numpy as np
import pandas as pd
import pytest

import biasaudit as ba
from biasaudit.errors import DataError, InputFileError
from biasaudit.loaders.tables import sniff_delimiter

from conftest import DATASETS

ROWS = [("a", 1, "x"), ("b", 2, "y"), ("c", 3, "x")]


def _frame():
    return pd.DataFrame(ROWS, columns=["k", "num", "y"])


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path, sep):
    p = tmp_path / "t.csv"
    _frame().to_csv(p, sep=sep, index=False)
    df = ba.load(p)
    assert list(df.columns) == ["k", "num", "y"]
    assert df["num"].tolist() == [1, 2, 3]


@pytest.mark.parametrize("suffix,writer", [
    (".parquet", lambda df, p: df.to_parquet(p)),
    (".jsonl", lambda df, p: df.to_json(p, orient="records", lines=True)),
    (".tsv", lambda df, p: df.to_csv(p, sep="\t", index=False)),
    (".csv.gz", lambda df, p: df.to_csv(p, index=False, compression="gzip")),
    (".csv.zip", lambda df, p: df.to_csv(p, index=False, compression={"method": "zip", "archive_name": "t.csv"})),
])
def test_formats_round_trip(tmp_path, suffix, writer):
    p = tmp_path / f"t{suffix}"
    writer(_frame(), p)
    df = ba.load(p)
    assert df.shape == (3, 3)
    assert df["k"].tolist() == ["a", "b", "c"]
    assert df["num"].sum() == 6


def test_types_are_normalised(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("flag,n,txt\nTrue,\" 7\",\nFalse,8, b \n", encoding="utf-8")
    df = ba.load(p)
    assert df["flag"].tolist() == [True, False]
    assert df["n"].tolist() == [7, 8]
    assert pd.isna(df.loc[0, "txt"]) and df.loc[1, "txt"] == "b"


def test_dataframe_passes_through_unchanged():
    src = _frame()
    before = src.copy()
    out = ba.load(src)
    pd.testing.assert_frame_equal(src, before)
    assert out is not src and out.shape == src.shape


def test_utf8_bom_and_non_ascii(tmp_path):
    p = tmp_path / "t.csv"
    p.write_bytes("\ufeffname,y\nZoë,1\nJosé,0\n".encode("utf-8"))
    df = ba.load(p)
    assert list(df.columns) == ["name", "y"] and df["name"].tolist() == ["Zoë", "José"]


def test_latin1_is_refused_with_hint_then_read_with_encoding(tmp_path):
    p = tmp_path / "t.csv"
    p.write_bytes("name,y\nZo\xeb,1\nab,0\n".encode("latin-1"))
    with pytest.raises(InputFileError, match="--encoding"):
        ba.load(p)
    assert ba.load(p, encoding="latin-1")["name"].tolist() == ["Zoë", "ab"]


@pytest.mark.parametrize("content,match", [
    (b"", "empty"),
    (b"a,b,c\n", "no rows"),
    (b"   \n\n", "whitespace"),
])
def test_empty_inputs(tmp_path, content, match):
    p = tmp_path / "t.csv"
    p.write_bytes(content)
    with pytest.raises((InputFileError, DataError), match=match):
        ba.load(p)


def test_missing_directory_unknown(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        ba.load(tmp_path / "nope.csv")
    with pytest.raises(InputFileError, match="directory"):
        ba.load(tmp_path)
    q = tmp_path / "t.xlsx"
    q.write_bytes(b"PK\x03\x04")
    with pytest.raises(InputFileError, match="Unknown file format"):
        ba.load(q)


def test_corrupt_parquet(tmp_path):
    p = tmp_path / "t.parquet"
    p.write_bytes(b"not parquet at all")
    with pytest.raises(InputFileError, match="Cannot read"):
        ba.load(p)


def test_input_file_is_not_modified(tmp_path):
    p = tmp_path / "d.csv"
    p.write_bytes((DATASETS / "dogs_cats.csv").read_bytes())
    before = (p.read_bytes(), p.stat().st_mtime_ns)
    ba.audit(str(p), label="species", probe=False)
    assert (p.read_bytes(), p.stat().st_mtime_ns) == before


def test_sniffer_single_column_and_spaces():
    assert sniff_delimiter("a\nb\nc\n") == ","
    assert sniff_delimiter("a b c\n1 2 3\n") == r"\s+"
