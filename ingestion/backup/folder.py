"""What a backup folder holds: its files' names, the manifest, and progress reports.

``manifest.json`` is written last; :func:`read_manifest` refuses a folder without one (an
interrupted backup) and checks every file's SHA-256 before a restore writes anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from bson import json_util

from ingestion.errors import BackupError
from ingestion.sinks.lake import QUARANTINE, RESPONSES

FORMAT = "criptopipe-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WAREHOUSE_DUMP = "warehouse.dump"
DAGSTER_DUMP = "dagster.dump"  # Dagster's storage, with CRIPTOPIPE_DAGSTER_STORAGE=postgres
LAKE_COLLECTIONS = (RESPONSES, QUARANTINE)
INSERT_BATCH_DOCUMENTS = 500
INSERT_BATCH_BYTES = 16 << 20
JSON_OPTIONS = json_util.JSONOptions(
    json_mode=json_util.JSONMode.RELAXED, tz_aware=True, tzinfo=UTC
)


@dataclass(frozen=True)
class Progress:
    """One step of a backup or restore: ``done`` of ``total`` units (``None``: unknown)."""

    stage: str  # e.g. "warehouse", "lake.responses"
    done: int
    total: int | None
    unit: str  # "tables" or "documents"


ProgressCallback = Callable[[Progress], None]


def no_progress(_: Progress) -> None:
    """A progress callback that reports nothing."""
    return None


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: Path) -> dict[str, Any]:
    """The backup's manifest, after checking that every file it names is intact."""
    path = directory / MANIFEST
    if not path.exists():
        what = "does not exist" if not directory.exists() else "holds no manifest.json"
        raise BackupError(
            f"{directory} {what}: not a criptopipe backup (an interrupted backup has no manifest)"
        )
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except ValueError as err:
        raise BackupError(f"{path} is not valid JSON: {err}") from err
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"{path} is not a criptopipe backup of format {FORMAT_VERSION}")
    files = [
        manifest["warehouse"],
        *manifest["lake"]["collections"].values(),
        *([manifest["dagster"]] if "dagster" in manifest else []),
    ]
    for entry in files:
        file = directory / entry["file"]
        if not file.exists():
            raise BackupError(f"{file} is missing from the backup")
        if file_sha256(file) != entry["sha256"]:
            raise BackupError(f"{file} is damaged: its SHA-256 differs from the manifest's")
    return manifest
