import numpy as np
import pandas as pd
import pytest

from biasaudit.errors import ColumnError, DataError
from biasaudit.engine.roles import detect_multi_separator, resolve

from conftest import DATASETS


def test_label_inferred_as_last_column_with_note(dogs_cats):
    frame, roles = resolve(dogs_cats)
    assert roles.label == "species"
    assert any("species" in n and "last column" in n for n in roles.notes)
    assert roles.label_values == ("CAT", "DOG")  # 8 cats, 6 dogs: most frequent first
    assert roles.positive == "DOG"                # the minority value
    assert roles.ids == ("id",)


def test_label_inferred_by_name():
    df = pd.DataFrame({"target": [0, 1, 0, 1], "a": ["x", "y", "x", "x"], "z": [1, 2, 3, 3]})
    _, roles = resolve(df)
    assert roles.label == "target"


def test_multi_valued_colour_detected(dogs_cats):
    frame, roles = resolve(dogs_cats, label="species")
    assert roles.multi == {"color": "-"}
    assert roles.derived["color_count"] == "color"
    # independent count: values containing '-' have two colours
    expected = dogs_cats["color"].str.count("-") + 1
    assert frame["color_count"].astype(int).tolist() == expected.tolist()
    has_white = dogs_cats["color"].str.split("-").map(lambda p: "white" in p)
    assert (frame["color_has_white"] == "yes").tolist() == has_white.tolist()


@pytest.mark.parametrize("values,sep", [
    (["brown", "white", "brown-white"], "-"),
    (["dog", "grass", "dog|grass", "frisbee", "dog|frisbee"], "|"),
    (["25 - 45", "Less than 25", "Greater than 45"], None),
    (["a-b", "c"], None),
    (["x", "y"], None),
])
def test_detect_multi_separator(values, sep):
    assert detect_multi_separator(values) == sep


def _round2(v: float) -> float:
    """Two significant digits, written out independently of the engine."""
    return float(f"{v:.2g}")


@pytest.mark.parametrize("n, tails", [(1000, True), (300, False)])
def test_numeric_binned_at_rounded_quantiles_with_tails(n, tails):
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    df = pd.DataFrame({"x": x, "y": rng.integers(0, 2, n)})
    frame, roles = resolve(df, label="y")
    probs = [0.05, 0.2, 0.4, 0.6, 0.8, 0.95] if tails else [0.2, 0.4, 0.6, 0.8]
    cuts = [_round2(q) for q in np.quantile(x, probs)]
    assert roles.bins["x"] == cuts
    labels = [f"<={cuts[0]:g}"] + [f"({a:g}, {b:g}]" for a, b in zip(cuts, cuts[1:])] + [f">{cuts[-1]:g}"]
    assert list(frame["x"].cat.categories) == labels
    # each bin holds the values pandas puts between the cut points (right-closed)
    want = pd.cut(x, [-np.inf] + cuts + [np.inf], labels=labels).value_counts().reindex(labels)
    assert frame["x"].value_counts().reindex(labels).tolist() == want.tolist()
    if tails:  # the bottom and top 5 % are bins of their own
        assert abs(want.iloc[0] - 50) <= 15 and abs(want.iloc[-1] - 50) <= 15


def test_bin_names_survive_a_subsample():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"age": rng.integers(18, 90, 20000), "y": rng.integers(0, 2, 20000)})
    _, full = resolve(df, label="y")
    _, part = resolve(df.sample(frac=0.97, random_state=2), label="y")
    assert full.bins["age"] == part.bins["age"]


def test_explicit_bins_and_empty_outer_bins_dropped():
    df = pd.DataFrame({"age": [20, 30, 50, 60, 70, 22, 33, 44] * 10, "y": [0, 1] * 40})
    frame, roles = resolve(df, label="y", bins={"age": [18, 25, 45, 65]})
    assert roles.bins["age"] == [18.0, 25.0, 45.0, 65.0]
    # no age <= 18: that bin is left out; 70 falls in the open top bin
    assert list(frame["age"].cat.categories) == ["(18, 25]", "(25, 45]", "(45, 65]", ">65"]
    assert frame["age"].value_counts()[">65"] == 10 and frame["age"].value_counts()["(18, 25]"] == 20
    with pytest.raises(DataError, match="not numeric"):
        resolve(df.assign(s=["a", "b"] * 40), label="y", bins={"s": [1, 2]})


def test_small_integer_columns_are_categorical():
    df = pd.DataFrame({"k": [1, 2, 3, 1, 2, 3] * 5, "y": [0, 1] * 15})
    _, roles = resolve(df, label="y")
    assert roles.kinds["k"] == "categorical" and "k" not in roles.bins


def test_constant_and_text_columns_left_out():
    n = 120
    df = pd.DataFrame({"const": ["c"] * n, "free": [f"t{i % 80}" for i in range(n)],
                       "a": ["u", "v"] * (n // 2), "y": [0, 1, 1] * (n // 3)})
    _, roles = resolve(df, label="y")
    assert roles.attributes == ("a",)
    assert "constant" in roles.excluded["const"] and "80 distinct" in roles.excluded["free"]


def test_unknown_label_has_close_match(dogs_cats):
    with pytest.raises(ColumnError, match="Did you mean 'species'"):
        resolve(dogs_cats, label="Species")
    with pytest.raises(ColumnError, match="Did you mean 'size'"):
        resolve(dogs_cats, label="species", sensitive=["sise"])


def test_constant_label_refused(dogs_cats):
    df = dogs_cats.assign(species="DOG")
    with pytest.raises(DataError, match="one value"):
        resolve(df, label="species")


@pytest.mark.parametrize("w,match", [([1, -1, 2, 3], "negative"), (["a", "b", "c", "d"], "non-numeric"),
                                     ([1, None, 2, 3], "missing")])
def test_bad_weights(w, match):
    df = pd.DataFrame({"a": ["x", "y", "x", "y"], "w": w, "y": [0, 1, 0, 1]})
    with pytest.raises(DataError, match=match):
        resolve(df, label="y", weight="w")


def test_missing_label_rows_dropped_with_note():
    df = pd.DataFrame({"a": ["x", "y", "x", "y"], "y": [0, 1, None, 1]})
    frame, roles = resolve(df, label="y")
    assert len(frame) == 3 and roles.n_rows_dropped == 1


def test_input_not_modified(dogs_cats):
    before = dogs_cats.copy()
    resolve(dogs_cats, label="species")
    pd.testing.assert_frame_equal(dogs_cats, before)
