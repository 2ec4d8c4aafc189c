import numpy as np
import pandas as pd
import pytest
from hypothesis import given, strategies as st

from biasaudit.engine.counts import CodedTable, CountTable, encode, encode_column
from biasaudit.engine.roles import MISSING


def _frame(seed=0, n=500):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "a": rng.choice(["p", "q", "r"], n).astype(object),
        "b": rng.choice(["u", "v"], n).astype(object),
        "c": rng.choice(["k", "l", "m", "n"], n).astype(object),
        "w": rng.integers(1, 5, n).astype(float),
    })


@pytest.mark.parametrize("cols", [("a",), ("a", "b"), ("b", "a"), ("a", "b", "c")])
def test_tables_equal_pandas_crosstab(cols):
    df = _frame()
    t = encode(df, ["a", "b", "c"]).count(*cols)
    expected = df.groupby(list(cols)).size()
    for idx, n in expected.items():
        idx = idx if isinstance(idx, tuple) else (idx,)
        pos = tuple(t.levels[i].index(v) for i, v in enumerate(idx))
        assert t.counts[pos] == n
    assert t.counts.sum() == len(df)


def test_weighted_counts():
    df = _frame()
    t = encode(df, ["a", "b"], weight="w").count("a", "b")
    expected = df.groupby(["a", "b"])["w"].sum()
    for (a, b), w in expected.items():
        assert t.counts[t.levels[0].index(a), t.levels[1].index(b)] == pytest.approx(w)


def test_missing_is_its_own_level():
    codes, levels = encode_column(pd.Series(["x", None, "y", np.nan, "x"], dtype=object))
    assert levels == ("x", "y", MISSING)
    assert codes.tolist() == [0, 2, 1, 2, 0]


@given(st.integers(1, 4), st.integers(0, 10_000))
def test_chunks_add_up_to_the_whole(n_chunks, seed):
    df = _frame(seed, n=200)
    whole = encode(df, ["a", "c"]).count("a", "c")
    parts = np.array_split(np.arange(len(df)), n_chunks)
    total = None
    for idx in parts:
        t = encode(df.iloc[idx], ["a", "c"]).count("a", "c")
        total = t if total is None else total + t
    # align to the whole table's level order
    for i, a in enumerate(whole.levels[0]):
        for j, c in enumerate(whole.levels[1]):
            assert total.counts[total.levels[0].index(a), total.levels[1].index(c)] == whole.counts[i, j]


def test_margin_and_mask():
    df = _frame()
    ct = encode(df, ["a", "b"])
    t = ct.count("a", "b")
    assert t.margin("a").counts.tolist() == [int((df["a"] == v).sum()) for v in t.levels[0]]
    assert ct.mask(a="p", b="u").sum() == ((df["a"] == "p") & (df["b"] == "u")).sum()
