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


def test_numeric_binned_into_quantiles():
    rng = np.random.default_rng(0)
    x = rng.normal(size=1000)
    df = pd.DataFrame({"x": x, "y": rng.integers(0, 2, 1000)})
    frame, roles = resolve(df, label="y")
    edges = roles.bins["x"]
    assert np.allclose(edges, np.quantile(x, np.linspace(0, 1, 6)))
    counts = frame["x"].value_counts().sort_index()
    assert counts.sum() == 1000 and counts.min() >= 199


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
