"""The declared dependencies: dbt 1.12 pinned narrowly, the parser override, no dead packages."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DEPENDENCIES = {Requirement(d).name: Requirement(d) for d in PYPROJECT["project"]["dependencies"]}


def test_dbt_core_is_pinned_to_1_12_only() -> None:
    spec = DEPENDENCIES["dbt-core"].specifier
    assert Version("1.12.0") in spec and Version("1.12.99") in spec
    for outside in ("1.11.99", "1.13.0", "2.0.0a1", "2.0.0"):
        assert not spec.contains(outside, prereleases=True), outside
    adapter = DEPENDENCIES["dbt-postgres"].specifier
    assert not adapter.contains("2.0.0", prereleases=True)


def test_installed_dbt_is_1_12() -> None:
    assert Version(metadata.version("dbt-core")).release[:2] == (1, 12)


def test_experimental_parser_is_overridden_away_and_not_installed() -> None:
    overrides = [Requirement(o) for o in PYPROJECT["tool"]["uv"]["override-dependencies"]]
    parser = [o for o in overrides if o.name == "dbt-core-experimental-parser"]
    assert parser and parser[0].marker is not None
    assert not parser[0].marker.evaluate(), "the override must never select the parser"
    lock = (ROOT / "uv.lock").read_text()
    assert 'overrides = [{ name = "dbt-core-experimental-parser"' in lock
    try:
        metadata.version("dbt-core-experimental-parser")
    except metadata.PackageNotFoundError:
        pass
    else:  # pragma: no cover - only when a user installed it by hand
        raise AssertionError("dbt-core-experimental-parser is installed despite the override")


def test_psycopg2_is_not_a_declared_dependency() -> None:
    # All code uses psycopg 3; dbt-postgres brings psycopg2 in for itself.
    assert "psycopg2-binary" not in DEPENDENCIES and "psycopg2" not in DEPENDENCIES


def test_python_range_has_an_upper_bound() -> None:
    spec = PYPROJECT["project"]["requires-python"]
    assert "<" in spec
