"""Running dbt against a database of its own, for the dbt tests and the benchmark.

dbt runs as a subprocess of the project's virtualenv (``dbt`` next to the interpreter),
with the profile's environment variables for the ``transformer`` role and its own target
and log directories, so parallel sessions never share ``dbt_project/target``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingestion.services import Endpoints, postgres
from ingestion.settings import PROJECT_ROOT, Settings

DBT_PROJECT = PROJECT_ROOT / "dbt_project"
DBT_BIN = Path(sys.executable).parent / "dbt"


@dataclass(frozen=True)
class DbtResult:
    args: tuple[str, ...]
    returncode: int
    output: str
    seconds: float
    target_path: Path

    def run_results(self) -> list[dict[str, Any]]:
        path = self.target_path / "run_results.json"
        return list(json.loads(path.read_text())["results"])

    def not_passing(self) -> list[str]:
        return [
            f"{r['unique_id']}: {r['status']} {r.get('message') or ''}"
            for r in self.run_results()
            if r["status"] not in ("pass", "success", "no-op")
        ]


@dataclass(frozen=True)
class DbtDatabase:
    """A warehouse database with the three roles, and how dbt reaches it."""

    name: str
    settings: Settings
    endpoints: Endpoints
    work_dir: Path

    @property
    def loader_dsn(self) -> str:
        return self.endpoints.role_dsn("loader", self.settings)

    @property
    def transformer_dsn(self) -> str:
        return self.endpoints.role_dsn("transformer", self.settings)

    @property
    def reader_dsn(self) -> str:
        return self.endpoints.role_dsn("reader", self.settings)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.endpoints.dbt_env(self.settings),
            "CRIPTOPIPE_DBT_THREADS": "8",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }

    def dbt(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 600,
        env: dict[str, str] | None = None,
    ) -> DbtResult:
        target = self.work_dir / "target"
        command = [
            str(DBT_BIN),
            "--no-use-colors",
            *args,
            "--project-dir",
            str(DBT_PROJECT),
            "--profiles-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(target),
            "--log-path",
            str(self.work_dir / "logs"),
        ]
        started = time.perf_counter()
        done = subprocess.run(
            command,
            env={**self.env(), **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        result = DbtResult(
            tuple(args),
            done.returncode,
            done.stdout + done.stderr,
            time.perf_counter() - started,
            target,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"dbt {' '.join(args)} failed:\n{result.output[-6000:]}")
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Start a long-running dbt command (``docs serve``); the caller stops it."""
        command = [
            str(DBT_BIN),
            "--no-use-colors",
            *args,
            "--project-dir",
            str(DBT_PROJECT),
            "--profiles-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(self.work_dir / "target"),
            "--log-path",
            str(self.work_dir / "logs"),
        ]
        return subprocess.Popen(
            command,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


def create_database(
    admin_dsn: str, mongo_uri: str, name: str, settings: Settings, work_dir: Path
) -> DbtDatabase:
    """A fresh database ``name`` with roles and schemas (dropped first if it exists)."""
    postgres.drop_database(admin_dsn, name)
    postgres.bootstrap(admin_dsn, name, settings)
    work_dir.mkdir(parents=True, exist_ok=True)
    db_settings = settings.model_copy(update={"postgres_db": name, "mongo_db": name})
    return DbtDatabase(name, db_settings, Endpoints(admin_dsn, mongo_uri, name), work_dir)


def drop_database(db: DbtDatabase) -> None:
    postgres.drop_database(db.endpoints.postgres_admin_dsn, db.name)
