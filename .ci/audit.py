"""`make audit`: pip-audit over exactly the locked dependencies, honest about what it checked.

The lock is exported with uv (every group, hashes included, the project itself left out) and
audited with pip-audit against a vulnerability service (``AUDIT_SERVICE``: ``pypi``, the
default, or ``osv``). pip-audit reports a package it could not look up as "skipped" and
still says "No known vulnerabilities found" with exit 0, so this script counts: it passes
only when every locked package was actually audited.

Exit status: 0 all audited and clean; 1 known vulnerabilities; 2 the data source could not
be reached (or answered for only part of the lock): nothing can be concluded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {
    "pypi": "PyPI's JSON API (https://pypi.org/pypi/<name>/<version>/json)",
    "osv": "OSV (https://api.osv.dev)",
}


def _uv() -> list[str]:
    from shutil import which

    return [which("uv")] if which("uv") else [sys.executable, "-m", "uv"]  # type: ignore[list-item]


def export_lock(target: Path) -> None:
    """Write the locked dependencies (every group, hashes, not the project) to ``target``."""
    subprocess.run(
        [
            *_uv(),
            "export",
            "--frozen",
            "--format",
            "requirements.txt",
            "--all-groups",
            "--no-emit-project",
            "--quiet",
            "-o",
            str(target),
        ],
        cwd=ROOT,
        check=True,
    )


def verdict(dependencies: list[dict[str, Any]], source: str) -> tuple[int, list[str]]:
    """The exit status and the lines to print for pip-audit's JSON ``dependencies``."""
    skipped = [d for d in dependencies if "skip_reason" in d]
    audited = [d for d in dependencies if "skip_reason" not in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    lines = [
        f"{dep['name']} {dep['version']}: {vuln['id']} "
        f"(fixed in {', '.join(vuln.get('fix_versions') or []) or 'no release yet'})"
        for dep in vulnerable
        for vuln in dep["vulns"]
    ]
    lines.append(
        f"audit: {len(audited)} of {len(dependencies)} locked packages audited "
        f"against {source}; {len(vulnerable)} with known vulnerabilities"
    )
    if skipped:
        lines.append(
            f"audit: {len(skipped)} could not be looked up, e.g. {skipped[0]['name']}: "
            f"{skipped[0]['skip_reason']}"
        )
        lines.append(
            f"audit: the data source ({source}) is unreachable or incomplete from "
            "here: this is NOT a clean audit"
            + (" (NOTHING WAS AUDITED)" if not audited else "")
            + ". Retry where it is reachable, or with another AUDIT_SERVICE."
        )
    return (1 if vulnerable else 2 if skipped else 0), lines


def main() -> int:
    """Audit the exported lock with pip-audit and print the verdict; return the exit status."""
    service = os.environ.get("AUDIT_SERVICE", "pypi")
    source = SOURCES.get(service, service)
    extra = ["--osv-url", os.environ["AUDIT_OSV_URL"]] if os.environ.get("AUDIT_OSV_URL") else []
    with tempfile.TemporaryDirectory() as tmp:
        requirements, report = Path(tmp) / "requirements.txt", Path(tmp) / "audit.json"
        export_lock(requirements)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip_audit",
                "-r",
                str(requirements),
                "--disable-pip",
                "--vulnerability-service",
                service,
                "--format",
                "json",
                "--output",
                str(report),
                "--progress-spinner",
                "off",
                *extra,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
        if not report.exists() or not report.read_text().strip():
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            print(
                f"audit: could not reach the vulnerability data source, {source}: {last}\n"
                "audit: NOTHING WAS AUDITED. Retry where it is reachable, or with another "
                "AUDIT_SERVICE (pypi, osv).",
                file=sys.stderr,
            )
            return 2
        dependencies = json.loads(report.read_text())["dependencies"]
    status, lines = verdict(dependencies, source)
    print("\n".join(lines), file=sys.stderr if status else sys.stdout)
    return status


if __name__ == "__main__":
    sys.exit(main())
