"""pyproject.toml serves uv, pip and Poetry from one list of dependencies (no network)."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib

from packaging.specifiers import SpecifierSet

from ingestion.settings import PROJECT_ROOT

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())


def _python_minors(spec: SpecifierSet) -> list[str]:
    return [f"3.{minor}" for minor in range(8, 20) if spec.contains(f"3.{minor}.0")]


def _locked_distributions() -> set[str]:
    lock = (PROJECT_ROOT / "uv.lock").read_text()
    return set(re.findall(r'^name = "([^"]+)"', lock, flags=re.MULTILINE)) - {"criptopipe"}


def test_every_locked_package_supports_the_whole_python_range() -> None:
    """Poetry refuses a project range wider than a dependency's (uv only warns): with
    requires-python ">=3.11,<3.15", dagster-dbt's "<3.14" failed `poetry install`."""
    ours = SpecifierSet(PYPROJECT["project"]["requires-python"])
    minors = _python_minors(ours)
    assert minors and minors[0] == "3.11"
    narrower = {}
    for name in sorted(_locked_distributions()):
        try:
            metadata = importlib.metadata.metadata(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # locked for another platform or group (e.g. bench)
        theirs = SpecifierSet((metadata.get_all("Requires-Python") or [""])[0])
        missing = [m for m in minors if not theirs.contains(f"{m}.0")]
        if missing:
            narrower[name] = (str(theirs), missing)
    assert narrower == {}, f"requires-python {ours} is wider than: {narrower}"


def test_poetry_reads_the_build_backend_and_packages() -> None:
    assert PYPROJECT["build-system"]["build-backend"] == "poetry.core.masonry.api"
    packages = {p["include"] for p in PYPROJECT["tool"]["poetry"]["packages"]}
    top_level = {
        p.parent.name
        for p in PROJECT_ROOT.glob("*/__init__.py")
        if p.parent.name not in {"tests", "benchmarks"}
    }
    assert packages == top_level == {"ingestion", "orchestration", "dashboard"}
    # One source of truth: dependencies only in PEP 621 / PEP 735 tables, none in Poetry's.
    poetry = PYPROJECT["tool"]["poetry"]
    assert not {"dependencies", "group", "dev-dependencies"} & set(poetry)
    ignored = (PROJECT_ROOT / ".gitignore").read_text().splitlines()
    assert "poetry.lock" in ignored, "uv.lock is the one lock (README, Installing)"
