"""Restore a backup into an empty warehouse and lake (their names may differ).

The database, roles and schemas are made as ``criptopipe services up`` makes them (with
the restoring install's passwords), the dump is restored in one transaction (an error
leaves nothing half-restored), then the lake's documents are inserted and its indexes
recreated from the manifest.
"""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import psycopg
from bson import json_util
from pymongo.database import Database
from pymongo.errors import PyMongoError

from ingestion.backup.folder import (
    INSERT_BATCH_BYTES,
    INSERT_BATCH_DOCUMENTS,
    JSON_OPTIONS,
    Progress,
    ProgressCallback,
    no_progress,
    read_manifest,
)
from ingestion.backup.servers import (
    count_tables,
    database_exists,
    lake_client,
    pg_tool,
    run_tool,
    start_servers,
    table_counter,
)
from ingestion.errors import BackupError
from ingestion.services import Services, postgres
from ingestion.services.mongo import mask_uri
from ingestion.settings import Settings


@dataclass
class RestoreSummary:
    """What a restore wrote: into which databases, how many lake documents, notes."""

    warehouse_database: str
    lake_database: str
    documents: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _warehouse_is_empty(dsn: str) -> bool:
    return count_tables(dsn) == 0


def restore(
    settings: Settings, directory: Path, progress: ProgressCallback = no_progress
) -> RestoreSummary:
    """Restore the backup in ``directory`` into the (empty) warehouse and lake of ``settings``.

    Args:
        settings: The install to restore into; its database names may differ from the
            backed-up ones.
        directory: The backup folder.
        progress: Told of each step (tables restored, documents inserted).

    Returns:
        What was restored.

    Raises:
        BackupError: The folder is not an intact backup, a target is not empty, or a
            server or tool failed; the message says which.
    """
    started = datetime.now(UTC)
    directory = directory.resolve()
    manifest = read_manifest(directory)
    services = Services(settings)
    start_servers(services)
    admin = services.postgres_admin_dsn()
    database, lake_database = settings.postgres_db, settings.mongo_db
    warehouse_dsn = postgres.with_database(admin, database)
    try:
        if database_exists(admin, database) and not _warehouse_is_empty(warehouse_dsn):
            raise BackupError(
                f"the warehouse database {database!r} already holds tables: restore wants an "
                "empty one (drop it, or restore with --database into a new name)"
            )
    except psycopg.Error as err:
        raise BackupError(
            f"cannot reach PostgreSQL at {postgres.mask_dsn(admin)}: {str(err).strip()}"
        ) from err
    dagster = manifest.get("dagster") if settings.dagster_storage == "postgres" else None
    dagster_dsn = postgres.with_database(admin, settings.dagster_db)
    if (
        dagster
        and database_exists(admin, settings.dagster_db)
        and not _warehouse_is_empty(dagster_dsn)
    ):
        raise BackupError(
            f"Dagster's database {settings.dagster_db!r} already holds tables: restore wants "
            "an empty one (drop it, or set CRIPTOPIPE_DAGSTER_DB to a new name)"
        )
    collections = manifest["lake"]["collections"]
    with lake_client(services.mongo_uri()) as client:
        try:
            db = client[lake_database]
            busy = [n for n in collections if db[n].estimated_document_count() > 0]
        except PyMongoError as err:
            raise BackupError(
                f"cannot reach MongoDB at {mask_uri(services.mongo_uri())}: {err}"
            ) from err
        if busy:
            raise BackupError(
                f"the lake {lake_database!r} already holds documents in {', '.join(busy)}: "
                "restore wants an empty one (drop it, or restore with --database)"
            )
        postgres.bootstrap(admin, database, settings)
        _restore_dump(warehouse_dsn, directory, manifest["warehouse"], "warehouse", progress)
        postgres.bootstrap(admin, database, settings)  # grants on what the dump created
        documents = _import_lake(db, directory, collections, progress)
    summary = RestoreSummary(database, lake_database, documents)
    if dagster:
        from ingestion.services.dagster_storage import bootstrap_dagster_storage

        bootstrap_dagster_storage(admin, settings)
        _restore_dump(dagster_dsn, directory, dagster, "dagster", progress)
        summary.notes.append(f"Dagster's storage restored into {settings.dagster_db}")
    elif "dagster" in manifest:
        summary.notes.append(
            "the backup holds Dagster's storage; it was not restored, since "
            "CRIPTOPIPE_DAGSTER_STORAGE is not postgres here"
        )
    summary.seconds = (datetime.now(UTC) - started).total_seconds()
    return summary


def _schemas(dsn: str) -> set[str]:
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        return {r[0] for r in conn.execute("select nspname from pg_namespace").fetchall()}


def _restore_dump(
    dsn: str, directory: Path, entry: dict[str, Any], stage: str, progress: ProgressCallback
) -> None:
    """``pg_restore`` one dump of the manifest into the database of ``dsn``, in one transaction."""
    dump, total = directory / entry["file"], int(entry.get("tables", 0))
    tool = pg_tool("pg_restore")
    # The schemas `services up` made (same names, same owners) are left out of the dump's
    # table of contents; everything else, their grants included, is restored.
    listing = subprocess.run(
        [tool, "--list", str(dump)], capture_output=True, text=True, check=False, timeout=300
    )
    if listing.returncode != 0:
        raise BackupError(f"{dump} cannot be read by {tool}: {listing.stderr.strip()[-800:]}")
    existing = _schemas(dsn)
    kept = [
        line
        for line in listing.stdout.splitlines()
        if not ((m := re.match(r"^\d+; \d+ \d+ SCHEMA - (\S+) ", line)) and m.group(1) in existing)
    ]
    on_line = table_counter(stage, "processing data for table", total, progress)
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as toc:
        toc.write("\n".join(kept) + "\n")
    try:
        run_tool(
            [
                tool,
                "--verbose",
                "--exit-on-error",
                "--single-transaction",
                f"--use-list={toc.name}",
                str(dump),
            ],
            dsn,
            on_line,
        )
    finally:
        os.unlink(toc.name)
    progress(Progress(stage, total, total, "tables"))


def _batches(lines: IO[str]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    size = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            batch.append(json_util.loads(line, json_options=JSON_OPTIONS))
        except ValueError as err:
            raise BackupError(f"line {number} is not a JSON document: {err}") from err
        size += len(line)
        if len(batch) >= INSERT_BATCH_DOCUMENTS or size >= INSERT_BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _import_lake(
    db: Database[dict[str, Any]],
    directory: Path,
    collections: dict[str, dict[str, Any]],
    progress: ProgressCallback,
) -> dict[str, int]:
    imported: dict[str, int] = {}
    for name, info in collections.items():
        stage = f"lake.{name}"
        total = int(info["documents"])
        progress(Progress(stage, 0, total, "documents"))
        collection = db[name]
        count = 0
        with gzip.open(directory / info["file"], "rt", encoding="utf-8") as lines:
            for batch in _batches(lines):
                collection.insert_many(batch, ordered=True)
                count += len(batch)
                progress(Progress(stage, count, total, "documents"))
        for spec in info["indexes"]:
            collection.create_index([(k, v) for k, v in spec["key"]], **spec["options"])
        if count != total:
            raise BackupError(f"{info['file']} holds {count} documents, the manifest says {total}")
        imported[name] = count
    return imported
