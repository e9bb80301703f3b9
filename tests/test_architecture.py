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


def test_importing_ingestion_loads_no_dagster_or_streamlit() -> None:
    code = (
        "import sys, ingestion.run.ingest, ingestion.run.replay, ingestion.cli; "
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
