"""Shared test helpers: where the bundled and shared data live, and how to skip honestly."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "datasets"
SHARED = ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=25, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def shared_path(*parts: str) -> Path:
    """A file under ../shared/data; skip when absent, fail under CI (CI=true) where it must exist."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{path} is missing under CI; ../shared/data must be beside the checkout.")
        pytest.skip(f"{path} not found (../shared/data is not beside this checkout)")
    return path


def load_compas() -> pd.DataFrame:
    """COMPAS two-year recidivism with ProPublica's filter (6,172 rows); personal data never printed."""
    df = pd.read_csv(shared_path("compas", "compas-scores-two-years.csv"))
    keep = (df["days_b_screening_arrest"].between(-30, 30) & (df["is_recid"] != -1)
            & (df["c_charge_degree"] != "O") & (df["score_text"] != "N/A"))
    cols = ["sex", "age_cat", "race", "c_charge_degree", "priors_count", "decile_score", "score_text",
            "two_year_recid"]
    return df.loc[keep, cols].reset_index(drop=True)


@pytest.fixture
def compas() -> pd.DataFrame:
    return load_compas()


@pytest.fixture
def dogs_cats() -> pd.DataFrame:
    return pd.read_csv(DATASETS / "dogs_cats.csv")


def make_ctx(df: pd.DataFrame, **kw):
    """An audit context over ``df`` (roles resolved, columns encoded once) for calling a detector directly."""
    from biasaudit.engine.context import AuditContext
    from biasaudit.engine.counts import encode
    from biasaudit.engine.roles import resolve
    from biasaudit.settings import Settings
    frame, roles = resolve(df, **kw)
    table = encode(frame, (roles.label,) + roles.attributes, weight=roles.weight)
    return AuditContext(table=table, roles=roles, settings=Settings(), frame=frame, raw=df,
                        options={"reference": None, "compare": None, "reference_group": {}})
