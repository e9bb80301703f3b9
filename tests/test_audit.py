"""`make audit` passes only when every locked package was audited (.ci/audit.py)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from types import ModuleType

from netutil import free_port

from ingestion.settings import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / ".ci" / "audit.py"


def _audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_audit", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_skipped_packages_are_not_a_clean_audit() -> None:
    verdict = _audit().verdict
    clean = [{"name": "yarl", "version": "1.25.1", "vulns": []}]
    assert verdict(clean, "PyPI")[0] == 0
    # what pip-audit prints as "No known vulnerabilities found" when it reached nothing
    unreachable = [{"name": "yarl", "skip_reason": "Dependency not found on PyPI"}]
    status, lines = verdict(unreachable, "PyPI")
    assert status == 2
    assert "0 of 1 locked packages audited" in lines[0]
    assert "NOT a clean audit" in lines[-1] and "NOTHING WAS AUDITED" in lines[-1]
    vulnerable = [
        {
            "name": "aiohttp",
            "version": "3.8.0",
            "vulns": [{"id": "GHSA-x", "fix_versions": ["3.9.2"]}],
        },
        *unreachable,
    ]
    status, lines = verdict(vulnerable, "PyPI")
    assert status == 1 and lines[0] == "aiohttp 3.8.0: GHSA-x (fixed in 3.9.2)"


def test_an_unreachable_data_source_says_so_and_fails() -> None:
    env = {
        **os.environ,
        "AUDIT_SERVICE": "osv",
        "AUDIT_OSV_URL": f"http://127.0.0.1:{free_port()}/v1/query",
    }  # nothing listens
    result = subprocess.run(
        [sys.executable, str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2
    assert "could not reach the vulnerability data source" in result.stderr
    assert "NOTHING WAS AUDITED" in result.stderr
