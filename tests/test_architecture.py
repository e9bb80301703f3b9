"""House rules that keep the layers honest."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

from ingestion.settings import PROJECT_ROOT


def _imports(package: str) -> set[str]:
    found: set[str] = set()
    for path in (PROJECT_ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_ingestion_never_imports_dagster_or_streamlit() -> None:
    imported = _imports("ingestion")
    assert not imported & {"dagster", "dagster_dbt", "streamlit", "orchestration", "dashboard"}


def test_importing_ingestion_or_the_cli_loads_no_dagster_or_streamlit() -> None:
    # The CLI (orchestration.cli) imports Dagster and Streamlit only in the commands that
    # use them, so `criptopipe --help` and the ingestion commands never load them.
    code = (
        "import sys, ingestion.run.ingest, ingestion.run.replay, orchestration.cli; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('dagster', 'streamlit')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_print_outside_cli_and_no_environ_in_library_code() -> None:
    offenders = []
    for package in ("ingestion", "orchestration", "dashboard"):
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            rel = path.relative_to(PROJECT_ROOT).as_posix()
            text = path.read_text()
            # DAGSTER_HOME is Dagster's own variable; everything else comes from Settings.
            reads_env = [
                line
                for line in text.splitlines()
                if re.search(r"os\.getenv\(|os\.environ\.get\(|os\.environ\[[^\]]+\](?!\s*=)", line)
                and "DAGSTER_HOME" not in line
            ]
            if reads_env and not rel.endswith(("cli.py", "settings.py")):
                offenders.append(f"{rel}: reads os.environ")
            if (
                re.search(r"^\s*print\(", text, re.M)
                and not rel.endswith(("cli.py", "__main__.py"))
                and "benchmarks" not in rel
            ):
                offenders.append(f"{rel}: print()")
    assert offenders == []


def test_no_private_imports_across_packages() -> None:
    """A name with a leading underscore is its module's own: no other package imports it."""
    offenders = []
    packages = ("ingestion", "orchestration", "dashboard")
    for package in packages:
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
                    continue
                other = node.module.split(".")[0]
                if other in packages and other != package:
                    private = [a.name for a in node.names if a.name.startswith("_")]
                    if private:
                        offenders.append(f"{path.relative_to(PROJECT_ROOT)}: {private}")
    assert offenders == []


def test_one_cli_with_one_entry_point() -> None:
    """`criptopipe` is orchestration.cli:main, the one Typer app every command is on."""
    import tomllib

    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"criptopipe": "orchestration.cli:main"}
    apps = []
    for package in ("ingestion", "orchestration", "dashboard"):
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            if "typer.Typer(" in path.read_text():
                apps.append(path.relative_to(PROJECT_ROOT).parent.as_posix())
    assert set(apps) == {"orchestration/cli"}
