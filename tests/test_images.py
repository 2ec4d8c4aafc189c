"""Image sources: folder, manifest, COCO, CelebA; pixel attributes; bad files; path escapes; the image probe.

Every expected value is computed here from the pictures the tests draw (or by scipy / scikit-learn),
never read back from the code under test.
"""
from __future__ import annotations

import io
import json
import os
import struct

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw
from scipy import stats as sps

import biasaudit as ba
from biasaudit.errors import DataError, InputFileError
from biasaudit.loaders import images as images_mod
from biasaudit.loaders.images import ImageFolderError
from biasaudit.loaders.manifest import PathEscapeError, load_manifest
from biasaudit.loaders.pixels import PALETTE, border_mask, color_codes, image_statistics, read_image

WATER, LAND = (40, 90, 170), (60, 140, 50)


def make_birds(root, n_per_class=40, size=64, agree=0.95, seed=0):
    """Waterbirds-like pictures: class waterbird mostly on a blue background, landbird on green.

    Returns the truth the generator used: (relative path, class, background) per picture.
    """
    rng = np.random.default_rng(seed)
    truth = []
    for cls, home, away in (("waterbird", WATER, LAND), ("landbird", LAND, WATER)):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            bg = home if i < round(agree * n_per_class) else away
            pixels = np.clip(np.array(bg, dtype=float) + rng.normal(0, 12, (size, size, 3)), 0, 255)
            im = Image.fromarray(pixels.astype(np.uint8))
            draw = ImageDraw.Draw(im)
            x0, y0 = (int(v) for v in rng.integers(size // 4, size // 2, 2))
            w, h = (int(v) for v in rng.integers(size // 6, size // 3, 2))
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x0 + w, y0 + h], fill=colour)
            name = f"{cls}/{i:03d}.png"
            im.save(root / name)
            truth.append((name, cls, "blue" if bg == WATER else "green"))
    return pd.DataFrame(truth, columns=["path", "label", "background"])


@pytest.fixture(scope="module")
def birds(tmp_path_factory):
    root = tmp_path_factory.mktemp("birds")
    return root, make_birds(root)


@pytest.fixture(scope="module")
def birds_frame(birds):
    return ba.load(birds[0])


@pytest.fixture(scope="module")
def birds_result(birds_frame):
    return ba.audit(birds_frame, label="label", probe=True)


def _solid(rgb, size=(16, 16)):
    return np.tile(np.array(rgb, dtype=np.uint8), size + (1,))


# ---------------------------------------------------------------- pixel attributes
@pytest.mark.parametrize("rgb,name", [
    ((0, 0, 0), "black"), ((255, 255, 255), "white"), ((128, 128, 128), "grey"), ((139, 69, 19), "brown"),
    ((230, 20, 20), "red"), ((255, 140, 0), "orange"), ((250, 230, 20), "yellow"), ((20, 160, 40), "green"),
    ((30, 60, 200), "blue"), ((120, 40, 170), "purple"), ((255, 105, 180), "pink"), ((255, 182, 193), "pink"),
    (WATER, "blue"), (LAND, "green"), ((210, 180, 140), "brown"),
])
def test_palette_names_solid_colours(rgb, name):
    assert set(PALETTE[c] for c in color_codes(_solid(rgb)).ravel()) == {name}


def test_statistics_match_their_formulas():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)
    r, g, b = (rgb[..., i].astype(float) for i in range(3))
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    rg, yb = r - g, (r + g) / 2 - b
    hasler = np.sqrt(np.var(rg) + np.var(yb)) + 0.3 * np.sqrt(np.mean(rg) ** 2 + np.mean(yb) ** 2)
    got = image_statistics(rgb)
    assert got["brightness"] == pytest.approx(np.mean(luma), abs=1e-3)
    assert got["contrast"] == pytest.approx(np.sqrt(np.mean((luma - luma.mean()) ** 2)), abs=1e-3)
    assert got["colorfulness"] == pytest.approx(hasler, abs=1e-3)


def test_border_and_dominant_colour():
    rgb = _solid((200, 30, 30), (64, 64)).copy()  # red picture ...
    rgb[:8, :], rgb[-8:, :], rgb[:, :8], rgb[:, -8:] = WATER, WATER, WATER, WATER  # ... in a blue frame
    got = image_statistics(rgb)
    # the frame covers 64*64 - 48*48 = 1792 of 4096 pixels: red dominates, blue is the border
    assert got["dominant_color"] == "red" and got["border_color"] == "blue"
    assert border_mask(64, 64).sum() == 64 * 64 - 48 * 48


def test_read_image_header_and_exif(tmp_path):
    im = Image.fromarray(_solid((30, 60, 200), (20, 40)))  # 40 wide, 20 high
    exif = Image.Exif()
    exif[271], exif[272], exif[0x0112] = "Canon", "EOS 5D", 6  # orientation 6: shown rotated, 20 x 40
    exif.get_ifd(0x8769)[0x9003] = "2021:06:01 10:00:00"
    exif.get_ifd(0x8825)[1] = "N"
    path = tmp_path / "a.jpg"
    im.save(path, exif=exif)
    rec, probe, problems = read_image(str(path))
    assert problems == [] and probe.shape[0] == 2
    assert (rec["width"], rec["height"], rec["orientation"]) == (20, 40, "portrait")
    assert rec["aspect_ratio"] == 0.5 and rec["megapixels"] == round(800 / 1e6, 3)
    assert (rec["format"], rec["mode"], rec["file_size"]) == ("JPEG", "RGB", path.stat().st_size)
    assert (rec["camera_make"], rec["camera_model"], rec["capture_date"], rec["capture_year"]) == \
        ("Canon", "EOS 5D", "2021-06-01", 2021)
    assert rec["gps_present"] is True and rec["dominant_color"] == "blue"


# ---------------------------------------------------------------- folder
def test_folder_rows_labels_and_border_colour(birds, birds_frame):
    root, truth = birds
    df = birds_frame
    assert len(df) == 80 and list(df.columns[:2]) == ["path", "label"]
    merged = df.merge(truth, on="path", suffixes=("", "_truth"))
    assert (merged["label"] == merged["label_truth"]).all()
    # the border colour the loader names is the background the generator painted
    assert (merged["border_color"] == merged["background"]).all()
    assert set(df["width"]) == {64} and set(df["format"]) == {"PNG"}
    assert "biasaudit_images" in df.attrs and df.attrs["biasaudit_images"].features.shape[0] == 80


def test_scan_reports_border_colour_association(birds, birds_result):
    truth = birds[1]
    table = pd.crosstab(truth["background"], truth["label"]).to_numpy()
    expected = sps.chi2_contingency(table, correction=False)
    f = next(f for f in birds_result.findings if f.id == "group_attribution:border_color:label=label")
    assert f.bias_type == "group_attribution" and f.established
    assert f.p_value == pytest.approx(expected.pvalue, rel=1e-6)
    assert "border_color" in birds_result.dataset["attributes"]


def test_image_probe_finds_the_background_shortcut(birds_result):
    f = next(f for f in birds_result.findings if f.detector == "image_probe")
    assert f.bias_type == "learned_rule" and f.established
    assert f.statistic >= 0.85 and f.p_value == pytest.approx(1 / 1000)
    sec = birds_result.sections["image_probe"]
    assert {e["label"] for e in sec["examples"]} == {"waterbird", "landbird"}
    assert all(e["thumbnail"].startswith("data:image/jpeg;base64,") for e in sec["examples"])


def test_probe_reports_reliance_on_non_causal_border(birds_frame, monkeypatch):
    import importlib.util

    from biasaudit.detectors import DETECTORS
    if "probe" not in DETECTORS:
        if importlib.util.find_spec("biasaudit.detectors.probe.detector") is None:
            pytest.skip("the tabular probe (biasaudit.detectors.probe) is not available yet")
        monkeypatch.setitem(DETECTORS, "probe", "biasaudit.detectors.probe.detector:probe")
    r = ba.audit(birds_frame, label="label", non_causal=["border_color"], detectors=["probe"])
    rules = [f for f in r.findings if f.bias_type == "learned_rule" and "border_color" in f.attributes]
    assert rules and any(f.established for f in rules)


def test_filtered_frame_keeps_rows_matched_to_their_pictures(birds_frame):
    sub = birds_frame.sample(frac=1.0, random_state=0).iloc[:60]
    info = sub.attrs["biasaudit_images"]
    paths, feats = info.rows(sub.index)
    assert paths == sub["path"].tolist()
    again = ba.load(sub).attrs["biasaudit_images"].rows(sub.index)[1]  # survives the audit's own copy
    np.testing.assert_array_equal(feats, again)
    r = ba.audit(sub, label="label", detectors=["image_probe"])
    assert r.findings[0].n == 60


def test_image_probe_is_silent_on_tables(dogs_cats):
    r = ba.audit(dogs_cats, detectors=["image_probe"])
    assert r.findings == () and "image_probe" not in r.sections


def test_permutation_probe_against_sklearn():
    from sklearn.linear_model import RidgeClassifier
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import PredefinedSplit, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from biasaudit.detectors.image_probe import permutation_probe
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], 30)
    X = rng.normal(size=(90, 12)) + 0.8 * np.eye(3)[y] @ rng.normal(size=(3, 12))
    res = permutation_probe(X, y, n_permutations=199, random_state=5)
    model = make_pipeline(StandardScaler(), RidgeClassifier(alpha=10.0))
    pred = cross_val_predict(model, X, y, cv=PredefinedSplit(res["folds"]))
    assert res["score"] == pytest.approx(balanced_accuracy_score(y, pred), abs=1e-12)
    assert res["p_value"] == pytest.approx((1 + np.sum(res["null"] >= res["score"])) / 200)
    assert res["p_min"] == 1 / 200 and res["chance"] == pytest.approx(1 / 3)


def test_permutation_probe_is_calibrated_under_the_null():
    from biasaudit.detectors.image_probe import permutation_probe
    rng = np.random.default_rng(11)
    ps = [permutation_probe(rng.normal(size=(40, 8)), np.repeat([0, 1], 20), n_permutations=99,
                            random_state=s)["p_value"] for s in range(40)]
    # P(p <= 0.05) <= 0.05 under the null: 40 runs, more than 7 such p-values has probability < 0.001
    assert sum(p <= 0.05 for p in ps) <= 7 and sps.binom.sf(7, 40, 0.05) < 1e-3


def test_split_layout_and_three_classes(tmp_path):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("cat", "dog", "fox"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(2):
                pixels = rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)
                Image.fromarray(pixels).save(tmp_path / split / cls / f"{i}.png")
    df = ba.load(tmp_path)
    assert sorted(df["label"].unique()) == ["cat", "dog", "fox"]
    assert df.groupby(["split", "label"]).size().tolist() == [2] * 6


def test_no_image_features_lists_files_only(birds):
    df = ba.load(birds[0], image_features=False)
    assert set(df.columns) == {"path", "label", "file_size", "format"}
    assert df["file_size"].tolist() == [os.path.getsize(birds[0] / p) for p in df["path"]]


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("no pictures here")
    with pytest.raises(ImageFolderError, match="is a directory with no image files") as info:
        ba.load(tmp_path)
    assert isinstance(info.value, DataError) and isinstance(info.value, InputFileError)


def test_progress_and_cache(birds, tmp_path, monkeypatch):
    calls = []
    cache = tmp_path / "attrs.parquet"
    first = ba.load(birds[0], cache=cache, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (80, 80) and cache.exists()
    seen = []
    real = images_mod._read_one
    monkeypatch.setattr(images_mod, "_read_one", lambda args: (seen.append(args[0]), real(args))[1])
    again = ba.load(birds[0], cache=cache)
    assert seen == []  # every file unchanged: nothing decoded
    pd.testing.assert_frame_equal(first.drop(columns="path"), again.drop(columns="path"), check_dtype=False)
    np.testing.assert_allclose(first.attrs["biasaudit_images"].features, again.attrs["biasaudit_images"].features)
    target = birds[0] / "landbird" / "000.png"
    Image.fromarray(_solid((255, 255, 255), (64, 64))).save(target)  # changed file: re-read
    third = ba.load(birds[0], cache=cache)
    assert len(seen) == 1 and third.loc[third["path"] == "landbird/000.png", "border_color"].item() == "white"
    Image.fromarray(_solid(LAND, (64, 64))).save(target)


# ---------------------------------------------------------------- bad files
def _jpeg_bytes(rgb=(100, 100, 100), size=(20, 20)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_solid(rgb, size)).save(buf, "JPEG")
    return buf.getvalue()


def _bad_exif_jpeg() -> bytes:
    data = _jpeg_bytes()
    payload = b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 5) + b"\xff" * 20
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


@pytest.fixture
def messy(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # a small limit makes small bombs
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(6):
            colour = (20 * i, 50, 200 if cls == "a" else 20)
            Image.fromarray(_solid(colour, (20, 20))).save(tmp_path / cls / f"ok{i}.png")
    (tmp_path / "a" / "corrupt.jpg").write_bytes(b"this is not a picture at all, only text")
    (tmp_path / "a" / "truncated.jpg").write_bytes(_jpeg_bytes(size=(30, 30))[:300])
    (tmp_path / "a" / "empty.png").write_bytes(b"")
    (tmp_path / "b" / "readme.txt").write_text("not a picture")
    (tmp_path / "b" / "bomb_warn.png").write_bytes(_png((40, 40)))  # 1600 > 1000 pixels
    (tmp_path / "b" / "bomb_error.png").write_bytes(_png((50, 50)))  # 2500 > 2 x 1000 pixels
    (tmp_path / "b" / "bad_exif.jpg").write_bytes(_bad_exif_jpeg())
    return tmp_path


def _png(size) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_solid((1, 2, 3), size)).save(buf, "PNG")
    return buf.getvalue()


def test_bad_files_are_counted_listed_and_never_fatal(messy):
    df = ba.load(messy)
    errors = df.set_index("path")["image_error"]
    assert errors["a/corrupt.jpg"].startswith("not an image Pillow can read")
    assert errors["a/truncated.jpg"].startswith("corrupt or truncated image")
    assert errors["a/empty.png"] == "empty file (0 bytes)"
    assert errors["b/bomb_warn.png"].startswith("decompression bomb refused")
    assert errors["b/bomb_error.png"].startswith("decompression bomb refused")
    assert pd.isna(errors["b/bad_exif.jpg"]) and errors.notna().sum() == 5
    assert df.set_index("path").loc["b/bad_exif.jpg", "width"] == 20  # EXIF lost, pixels kept
    skipped = {s["path"]: s["reason"] for s in df.attrs["biasaudit_skipped"]}
    assert skipped["b/readme.txt"].startswith("not an image file")
    assert skipped["b/bad_exif.jpg"].startswith("unreadable EXIF")
    assert len(skipped) == 7
    assert any("7 file problem(s)" in n for n in df.attrs["biasaudit_notes"])
    result = ba.audit(df, label="label")  # the scan goes on and reports them
    assert len(result.dataset["skipped"]) == 7
    assert any("could not be read" in n for n in result.dataset["notes"])


def test_symlink_out_of_folder_is_refused(tmp_path):
    outside = tmp_path / "secret.png"
    Image.fromarray(_solid((0, 0, 0))).save(outside)
    root = tmp_path / "pets"
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        Image.fromarray(_solid((200, 0, 0))).save(root / cls / "x.png")
    os.symlink(outside, root / "cat" / "link.png")
    df = ba.load(root)
    assert "cat/link.png" not in set(df["path"])
    assert {"path": "cat/link.png", "reason": "symbolic link to a file outside the folder (refused)"} in \
        df.attrs["biasaudit_skipped"]


# ---------------------------------------------------------------- manifest
@pytest.fixture
def manifest_dir(birds, tmp_path):
    root, truth = birds
    m = truth.rename(columns={"path": "file"}).assign(photographer=np.where(np.arange(80) % 2, "ann", "bob"))
    return root, m


def test_manifest_csv_and_parquet_relative_to_manifest(manifest_dir):
    root, m = manifest_dir
    for name, write in (("m.csv", lambda p: m.to_csv(p, index=False)), ("m.parquet", lambda p: m.to_parquet(p))):
        path = root / name
        write(path)
        df = ba.load(path)
        assert len(df) == 80 and "photographer" in df.columns
        assert (df["border_color"] == df["background"]).all()
        assert df.attrs["biasaudit_images"].features.shape == (80, 2, df.attrs["biasaudit_images"].features.shape[2])
        path.unlink()


def test_manifest_with_images_root_missing_file_and_duplicates(manifest_dir, tmp_path):
    root, m = manifest_dir
    extra = pd.DataFrame({"file": ["waterbird/000.png", "nowhere/gone.png"], "label": ["waterbird", "landbird"],
                          "background": ["blue", "green"], "photographer": ["ann", "ann"]})
    table = pd.concat([m, extra], ignore_index=True)
    path = tmp_path / "elsewhere.csv"
    table.to_csv(path, index=False)
    df = ba.load(path, images_root=root)
    assert len(df) == 82
    assert df.loc[81, "image_error"] == "file not found" and pd.isna(df.loc[80, "image_error"])
    assert df.loc[80, "brightness"] == df.loc[0, "brightness"]  # the same picture twice
    assert {"path": "nowhere/gone.png", "reason": "file not found"} in df.attrs["biasaudit_skipped"]


@pytest.mark.parametrize("bad", ["../../etc/passwd", "/etc/passwd", "../outside.png"])
def test_manifest_paths_escaping_the_root_are_refused(manifest_dir, tmp_path, bad):
    root, m = manifest_dir
    table = pd.concat([m, pd.DataFrame({"file": [bad], "label": ["x"]})], ignore_index=True)
    path = tmp_path / "m.csv"
    table.to_csv(path, index=False)
    with pytest.raises(PathEscapeError, match="outside the images root") as info:
        ba.load(path, images_root=root)
    assert repr(bad) in str(info.value)
    table.to_csv(root / "m.csv", index=False)  # beside the images, without --images-root
    try:
        with pytest.raises(PathEscapeError, match=repr(bad).replace(".", r"\.")):
            ba.load(root / "m.csv")
    finally:
        (root / "m.csv").unlink()


def test_manifest_symlink_escaping_the_root_is_refused(tmp_path):
    outside = tmp_path / "outside.png"
    Image.fromarray(_solid((0, 0, 0))).save(outside)
    root = tmp_path / "root"
    root.mkdir()
    Image.fromarray(_solid((9, 9, 9))).save(root / "fine.png")
    os.symlink(outside, root / "sneaky.png")
    df = pd.DataFrame({"path": ["fine.png", "sneaky.png"], "label": ["a", "b"]})
    with pytest.raises(PathEscapeError, match="'sneaky.png'.*symbolic link"):
        load_manifest(df, images_root=root)


def test_manifest_without_the_pictures_is_a_plain_table(tmp_path):
    path = tmp_path / "meta.csv"
    pd.DataFrame({"img_filename": ["a/1.jpg", "b/2.jpg", "../x.jpg"], "y": [0, 1, 1]}).to_csv(path, index=False)
    df = ba.load(path)
    assert list(df.columns) == ["img_filename", "y"]
    assert any("none exist" in n for n in df.attrs["biasaudit_notes"])
    with pytest.raises(DataError):  # asked for the pictures explicitly: an error, not a note
        ba.load(path, images_root=tmp_path)


# ---------------------------------------------------------------- COCO and CelebA
def _coco(tmp_path, name="instances_val2017.json", pretty=False, images_dir=None):
    rng = np.random.default_rng(2)
    cats = [{"id": 1, "name": "person", "supercategory": "person"},
            {"id": 41, "name": "skateboard", "supercategory": "sports"},
            {"id": 44, "name": "bottle", "supercategory": "kitchen"}]
    imgs, anns, truth = [], [], []
    for i in range(60):
        w, h = (640, 480) if i % 3 else (480, 640)
        imgs.append({"id": i + 1, "file_name": f"{i + 1:012d}.jpg", "width": w, "height": h,
                     "date_captured": "2013-11-14 16:28:13", "license": 1 + i % 2})
        objs = [1] * (1 + i % 2) + ([41] if i < 20 else []) + ([44] if i % 4 == 0 else [])
        if i == 59:
            objs = []
        for j, c in enumerate(objs):
            bw, bh = float(rng.integers(10, 200)), float(rng.integers(10, 200))
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": c, "bbox": [1.0, 2.0, bw, bh],
                         "area": bw * bh * 0.7, "iscrowd": 0})
        truth.append((i + 1, w, h, objs))
        if images_dir is not None:
            Image.fromarray(_solid((200, 30, 30) if i < 20 else (30, 30, 200), (24, 32))).save(
                images_dir / f"{i + 1:012d}.jpg")
    doc = {"info": {"year": 2017}, "licenses": [], "images": imgs, "annotations": anns, "categories": cats}
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=2 if pretty else None))
    return path, doc, truth


def test_coco_one_row_per_image(tmp_path):
    path, doc, truth = _coco(tmp_path)
    df = ba.load(path)
    assert len(df) == 60 and df["image_id"].tolist() == [t[0] for t in truth]
    names = {1: "person", 41: "skateboard", 44: "bottle"}
    expected = ["|".join(sorted({names[c] for c in objs})) or "(none)" for _, _, _, objs in truth]
    assert df["categories"].tolist() == expected
    assert df["n_objects"].tolist() == [len(objs) for *_, objs in truth]
    assert df.attrs["biasaudit_multi"] == {"categories": "|", "supercategories": "|"}
    share = {}
    for a in doc["annotations"]:
        img = doc["images"][a["image_id"] - 1]
        share.setdefault(a["image_id"], []).append(a["bbox"][2] * a["bbox"][3] / (img["width"] * img["height"]))
    assert df.loc[0, "box_area_max"] == pytest.approx(max(share[1]), abs=1e-4)
    assert df.loc[5, "box_area_mean"] == pytest.approx(np.mean(share[6]), abs=1e-4)
    assert pd.isna(df.loc[59, "box_area_mean"])
    assert (df["orientation"] == np.where(np.arange(60) % 3, "landscape", "portrait")).all()
    assert set(df["capture_year"]) == {2013}


def test_coco_category_label_and_audit(tmp_path):
    path, doc, truth = _coco(tmp_path, pretty=True)
    df = ba.load(path, label="skateboard")
    assert df["skateboard"].tolist() == ["yes" if 41 in objs else "no" for *_, objs in truth]
    assert not df["categories"].str.contains("skateboard").any()  # the label is not restated
    assert df.loc[0, "n_objects"] == len([c for c in truth[0][3] if c != 41])
    r = ba.audit(path, label="skateboard", probe=False)
    assert "categories_has_person" in r.dataset["attributes"]
    g = r.groups.set_index(["attribute", "group"])
    bottle = np.array([44 in objs for *_, objs in truth])
    skate = np.array([41 in objs for *_, objs in truth])
    assert g.loc[("categories_has_bottle", "yes"), "n"] == bottle.sum()
    assert g.loc[("categories_has_bottle", "yes"), "rate:yes"] == pytest.approx(skate[bottle].mean())


def test_coco_images_beside_the_annotations(tmp_path):
    (tmp_path / "val2017").mkdir()
    (tmp_path / "annotations").mkdir()
    path, _, _ = _coco(tmp_path / "annotations", images_dir=tmp_path / "val2017")
    df = ba.load(path)
    assert df["dominant_color"].tolist() == ["red"] * 20 + ["blue"] * 40
    assert df["width"].tolist()[:3] == [480, 640, 640]  # from the annotations, not the pixels
    assert df["img_width"].tolist()[:3] == [32, 32, 32]


def test_json_lines_with_json_suffix_is_still_a_table(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text('{"images": 1, "y": "a"}\n{"images": 2, "y": "b"}\n')
    assert ba.load(path).shape == (2, 2)


def test_celeba_attribute_file(tmp_path):
    path = tmp_path / "list_attr_celeba.txt"
    path.write_text("5\n5_o_Clock_Shadow Blond_Hair Male\n000001.jpg -1  1 -1\n000002.jpg  1 -1  1\n"
                    "000003.jpg -1 -1  1\n")
    df = ba.load(path)
    assert df.columns.tolist() == ["image_id", "5_o_Clock_Shadow", "Blond_Hair", "Male"]
    assert df["Male"].tolist() == [0, 1, 1] and df["Blond_Hair"].tolist() == [1, 0, 0]
    assert any("declares 5 images but holds 3" in n for n in df.attrs["biasaudit_notes"])


# ---------------------------------------------------------------- command line
def test_cli_scan_folder_json(birds, tmp_path):
    from biasaudit.integrations.cli import cli
    out = tmp_path / "r.json"
    r = CliRunner().invoke(cli, ["scan", str(birds[0]), "--format", "json", "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert any(f["detector"] == "image_probe" and f["bias_type"] == "learned_rule" for f in doc["findings"])
    assert "border_color" in doc["dataset"]["attributes"] and doc["dataset"]["skipped"] == []


def test_cli_no_image_features_and_html(birds, tmp_path):
    from biasaudit.integrations.cli import cli
    out = tmp_path / "r.html"
    r = CliRunner().invoke(cli, ["scan", str(birds[0]), "--no-image-features", "--no-probe", "-q",
                                 "--format", "html", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "border_color" not in out.read_text()


def test_cli_refuses_escaping_manifest(manifest_dir, tmp_path):
    from biasaudit.integrations.cli import cli
    root, m = manifest_dir
    path = tmp_path / "m.csv"
    pd.concat([m, pd.DataFrame({"file": ["../../etc/passwd"], "label": ["x"]})]).to_csv(path, index=False)
    r = CliRunner().invoke(cli, ["scan", str(path), "--images-root", str(root), "--no-probe"])
    assert r.exit_code == 2 and "'../../etc/passwd'" in r.output and "refused" in r.output
