"""The dbt manifest Dagster's definitions load, prepared explicitly (never at load).

:func:`prepare_manifest` runs ``dbt parse`` (in a child process, with the warehouse
profile in its environment) when the project's files or the profile changed since the
last parse; their hash is kept next to the manifest. ``criptopipe dbt parse``, ``run``,
``ui``, ``demo`` and ``schedules`` call it, and loading does under ``dagster dev``.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from dagster_dbt import DbtProject

from ingestion.errors import ServiceError
from ingestion.services import dbt_env
from ingestion.settings import PROJECT_ROOT, Settings, load_settings
from orchestration.dbt_invocations import keep_parse, parse_cache

logger = logging.getLogger(__name__)

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
# Our own target directory, so a dbt run of the dbt engineer's never races our manifest.
DBT_TARGET = Path("target") / "dagster"

DBT_PROJECT = DbtProject(
    project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=DBT_TARGET
)


def dbt_executable() -> str:
    """The dbt of this environment's bin directory (the virtualenv need not be activated)."""
    local = Path(sys.executable).parent / "dbt"
    return str(local) if local.exists() else "dbt"


def _project_files(project_dir: Path) -> Iterator[Path]:
    for sub in ("models", "macros", "seeds", "snapshots", "tests", "analyses"):
        root = project_dir / sub
        if root.is_dir():
            yield from sorted(p for p in root.rglob("*") if p.is_file())
    for name in ("dbt_project.yml", "packages.yml", "dependencies.yml", "selectors.yml"):
        if (project_dir / name).is_file():
            yield project_dir / name


def project_hash(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """A SHA-256 of the dbt project's source files, paths and contents: what the parse is of."""
    digest = hashlib.sha256()
    for path in _project_files(project_dir):
        digest.update(str(path.relative_to(project_dir)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def profile_env(settings: Settings) -> dict[str, str]:
    """The values ``dbt_project/profiles.yml`` renders with: the transformer role's.

    Parsing never connects, so before the first ``services up`` (no password generated
    yet) the profile's defaults do.

    Args:
        settings: Whose warehouse the profile points at.

    Returns:
        The ``CRIPTOPIPE_DBT_*`` variables (empty before the first ``services up``).
    """
    try:
        return dbt_env(settings)  # the transformer role only
    except ServiceError:
        return {}


def prepare_manifest(project: DbtProject = DBT_PROJECT, settings: Settings | None = None) -> Path:
    """A manifest for the current project files: ``dbt parse`` once per change of the files.

    dbt's partial parsing (which every run reuses) is only valid for the profile it was
    made with: a change of warehouse database re-parses too, once. The parse runs in a
    child process with the profile in its environment; this process's is left alone.
    Processes that prepare it at the same time (test workers, a run next to the UI) take
    turns on a lock file beside it, so none reads a manifest another is still writing.

    Args:
        project: The dbt project (its target folder holds the manifest and the hash).
        settings: Whose profile to parse with (default: the current settings).

    Returns:
        The manifest's path.

    Raises:
        FileNotFoundError: When there is no dbt project.
        RuntimeError: When ``dbt parse`` fails (its output is in the message).
    """
    if not project.project_dir.joinpath("dbt_project.yml").exists():
        raise FileNotFoundError(f"no dbt project at {project.project_dir}")
    target = project.project_dir / project.target_path
    target.mkdir(parents=True, exist_ok=True)
    profile = profile_env(settings or load_settings())
    with (target / "criptopipe_parse.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        return _prepare_manifest(project, profile)


def _prepare_manifest(project: DbtProject, profile: dict[str, str]) -> Path:
    target = project.project_dir / project.target_path
    stamp = target / "criptopipe_project.sha256"
    current = hashlib.sha256(
        (project_hash(project.project_dir) + repr(sorted(profile.items()))).encode()
    ).hexdigest()
    if project.manifest_path.exists() and stamp.exists() and stamp.read_text().strip() == current:
        keep_parse(stamp.parent / "partial_parse.msgpack", parse_cache(stamp.parent, dict(profile)))
        return project.manifest_path
    logger.info("dbt project or profile changed: parsing it into %s", project.manifest_path)
    command = [
        dbt_executable(),
        "parse",
        "--quiet",
        "--project-dir",
        str(project.project_dir),
        "--profiles-dir",
        str(project.profiles_dir),
        "--target-path",
        str(target),
    ]
    env = {**os.environ, **profile, "DBT_LOG_PATH": str(target)}
    result = subprocess.run(
        command, env=env, cwd=project.project_dir, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"dbt parse failed:\n{result.stdout}{result.stderr}")
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(current)
    keep_parse(stamp.parent / "partial_parse.msgpack", parse_cache(stamp.parent, dict(profile)))
    return project.manifest_path
