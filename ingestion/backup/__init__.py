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

The package's parts: :mod:`~ingestion.backup.folder` (what a backup folder holds, the
manifest, progress), :mod:`~ingestion.backup.servers` (PostgreSQL's client tools and the
servers), :mod:`~ingestion.backup.export` (:func:`backup`) and
:mod:`~ingestion.backup.restoring` (:func:`restore`).
"""

from ingestion.backup.export import BackupSummary, backup
from ingestion.backup.folder import Progress, read_manifest
from ingestion.backup.restoring import RestoreSummary, restore
from ingestion.errors import BackupError

__all__ = [
    "BackupError",
    "BackupSummary",
    "Progress",
    "RestoreSummary",
    "backup",
    "read_manifest",
    "restore",
]
