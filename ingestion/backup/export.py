"""Take a backup: ``pg_dump`` of the warehouse (and Dagster's storage), then the lake.

The folder is written under a temporary sibling name and renamed when complete, with its
manifest written last; a failure leaves no folder behind.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from bson import json_util
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from ingestion.backup.folder import (
    DAGSTER_DUMP,
    FORMAT,
    FORMAT_VERSION,
    JSON_OPTIONS,
    LAKE_COLLECTIONS,
    MANIFEST,
    WAREHOUSE_DUMP,
    Progress,
    ProgressCallback,
    file_sha256,
    no_progress,
)
from ingestion.backup.servers import (
    count_tables,
    database_exists,
    lake_client,
    pg_tool,
    run_tool,
    start_servers,
    table_counter,
    tool_major,
)
from ingestion.errors import BackupError
from ingestion.services import Services, postgres
from ingestion.services.mongo import mask_uri
from ingestion.settings import Settings


@dataclass
class BackupSummary:
    """What a backup wrote: where, from which databases, how much."""

    directory: Path
    warehouse_database: str
    warehouse_bytes: int
    lake_database: str
    documents: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    dagster_database: str | None = None


@contextlib.contextmanager
def _staging_dir(target: Path) -> Iterator[Path]:
    """A sibling folder that becomes ``target`` at the end, or disappears on failure."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} exists and is not an empty folder: choose a new one")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if target.exists():
        target.rmdir()
    staging.rename(target)


def backup(
    settings: Settings, directory: Path, progress: ProgressCallback = no_progress
) -> BackupSummary:
    """Write a backup of the warehouse and the lake of ``settings`` into ``directory``.

    Args:
        settings: The install to back up (its servers are started if they are its own).
        directory: A new or empty folder; it appears only once the backup is complete.
        progress: Told of each step (tables dumped, documents exported).

    Returns:
        What was written.

    Raises:
        BackupError: The folder is not new or empty, there is nothing to back up, or a
            server or tool failed; the message says which.
    """
    started = datetime.now(UTC)
    services = Services(settings)
    start_servers(services)
    admin = services.postgres_admin_dsn()
    database, lake_database = settings.postgres_db, settings.mongo_db
    try:
        exists = database_exists(admin, database)
    except psycopg.Error as err:
        raise BackupError(
            f"cannot reach PostgreSQL at {postgres.mask_dsn(admin)}: {str(err).strip()}"
        ) from err
    if not exists:
        raise BackupError(
            f"the warehouse database {database!r} does not exist on "
            f"{postgres.mask_dsn(admin)}: nothing to back up"
        )
    warehouse_dsn = postgres.with_database(admin, database)
    directory = directory.resolve()
    with _staging_dir(directory) as staging:
        warehouse = _dump(warehouse_dsn, staging, WAREHOUSE_DUMP, "warehouse", progress)
        lake = _export_lake(services.mongo_uri(), lake_database, staging, progress)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": started.isoformat(),
            "warehouse": {"database": database, **warehouse},
            "lake": {"database": lake_database, "collections": lake},
        }
        if settings.dagster_storage == "postgres" and database_exists(admin, settings.dagster_db):
            dagster_dsn = postgres.with_database(admin, settings.dagster_db)
            manifest["dagster"] = {
                "database": settings.dagster_db,
                **_dump(dagster_dsn, staging, DAGSTER_DUMP, "dagster", progress),
            }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return BackupSummary(
        directory,
        database,
        int(warehouse["bytes"]),
        lake_database,
        {name: int(info["documents"]) for name, info in lake.items()},
        (datetime.now(UTC) - started).total_seconds(),
        manifest.get("dagster", {}).get("database"),
    )


def _dump(
    dsn: str, staging: Path, name: str, stage: str, progress: ProgressCallback
) -> dict[str, Any]:
    """``pg_dump --format=custom`` of the database of ``dsn`` into ``staging/name``."""
    dump = staging / name
    tool = pg_tool("pg_dump")
    server = postgres.server_version(dsn)
    server_major = int(server.split(".")[0].split()[0])
    if tool_major(tool) < server_major:
        raise BackupError(
            f"{tool} is older than the server (PostgreSQL {server}): "
            "pg_dump must be at least the server's major version"
        )
    total = count_tables(dsn)
    on_line = table_counter(stage, "dumping contents of table", total, progress)
    run_tool([tool, "--format=custom", "--verbose", f"--file={dump}"], dsn, on_line)
    progress(Progress(stage, total, total, "tables"))
    return {
        "file": name,
        "server_version": server,
        "pg_dump_major": tool_major(tool),
        "tables": total,
        "bytes": dump.stat().st_size,
        "sha256": file_sha256(dump),
    }


def _index_specs(collection: Collection[dict[str, Any]]) -> list[dict[str, Any]]:
    """The collection's indexes but ``_id``'s, as ``create_index`` takes them."""
    specs = []
    for index in collection.list_indexes():
        if index["name"] == "_id_":
            continue
        options = {k: v for k, v in index.items() if k not in ("key", "v", "ns")}
        specs.append({"key": [[k, v] for k, v in index["key"].items()], "options": options})
    return specs


def _export_lake(
    uri: str, database: str, staging: Path, progress: ProgressCallback
) -> dict[str, dict[str, Any]]:
    (staging / "lake").mkdir()
    exported: dict[str, dict[str, Any]] = {}
    try:
        with lake_client(uri) as client:
            db = client[database]
            for name in LAKE_COLLECTIONS:
                collection = db[name]
                total = collection.count_documents({})
                stage = f"lake.{name}"
                progress(Progress(stage, 0, total, "documents"))
                relative = f"lake/{name}.jsonl.gz"
                count = 0
                with gzip.open(staging / relative, "wt", encoding="utf-8", compresslevel=6) as out:
                    for document in collection.find({}).sort("_id", 1):
                        out.write(json_util.dumps(document, json_options=JSON_OPTIONS))
                        out.write("\n")
                        count += 1
                        if count % 1000 == 0:
                            progress(Progress(stage, count, max(total, count), "documents"))
                progress(Progress(stage, count, count, "documents"))
                exported[name] = {
                    "file": relative,
                    "documents": count,
                    "indexes": _index_specs(collection),
                    "bytes": (staging / relative).stat().st_size,
                    "sha256": file_sha256(staging / relative),
                }
    except PyMongoError as err:
        raise BackupError(
            f"cannot export the lake {database!r} from {mask_uri(uri)}: {err}"
        ) from err
    return exported
