"""How a Dagster step starts dbt: as little dbt start-up as it can, nothing left behind.

An hourly schedule pays for every dbt start-up, so (besides running dbt in the step's own
process with one parse per process, ``orchestration.dbt_runner``):

* **No re-parse per run.** dbt re-parses the whole project when its ``--vars`` or the
  values its ``profiles.yml`` reads change. So a partitioned step hands dbt its window as
  environment variables (``CRIPTOPIPE_DBT_PARTITION_START`` / ``_END``, read at run time
  by ``macros/incremental_candles.sql``), not as ``--vars``, and each warehouse profile
  (database, role, host) has a parse cache of its own: the first run for a profile leaves
  its ``partial_parse.msgpack`` there, every later run starts from it.
* **No target folder left per run.** dagster-dbt gives every invocation a target folder of
  its own (manifest, compiled SQL, logs: ~6 MB). A successful invocation's folder is
  removed once Dagster has read its results; a failed one stays for
  :data:`KEEP_FAILED` to be looked at, then goes too, and so does the parse cache of a
  profile no run used for that long.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, timedelta
from pathlib import Path

from dagster import AssetExecutionContext
from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation

PARTITION_ENV = ("CRIPTOPIPE_DBT_PARTITION_START", "CRIPTOPIPE_DBT_PARTITION_END")
PARTIAL_PARSE = "partial_parse.msgpack"
KEEP_FAILED = timedelta(days=3)


def partition_env(context: AssetExecutionContext) -> dict[str, str]:
    """The run's partition window, as the variables ``macros/incremental_candles.sql`` reads.

    Args:
        context: The execution context of a partitioned dbt step.

    Returns:
        ``CRIPTOPIPE_DBT_PARTITION_START`` / ``_END`` (ISO-8601 UTC, half-open).
    """
    window = context.partition_time_window
    start, end = PARTITION_ENV
    return {
        start: window.start.astimezone(UTC).isoformat(),
        end: window.end.astimezone(UTC).isoformat(),
    }


@contextmanager
def dbt_environment(
    values: Mapping[str, str], *, afterwards: Mapping[str, str] | None = None
) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` for the block, for the dbt it starts.

    dbt reads them from this process's environment: in process while the invocation runs
    (keep the block open until its events are read), or as a child process's. Afterwards
    each is set to its value in ``afterwards``, or removed (a partition window must not
    reach a later dbt step).

    Args:
        values: Variables to set.
        afterwards: What some of them go back to after the block.

    Yields:
        Nothing; the variables are set inside the block.
    """
    os.environ.update(values)
    try:
        yield
    finally:
        for name in values:
            if afterwards and name in afterwards:
                os.environ[name] = afterwards[name]
            else:
                os.environ.pop(name, None)


def parse_cache(target_root: Path, profile_env: Mapping[str, str]) -> Path:
    """The folder holding the parse of one warehouse profile.

    It is named by a hash of the profile's values, which include the role's password: the
    name shows none of them.

    Args:
        target_root: The folder the project's own parse is written to.
        profile_env: The ``CRIPTOPIPE_DBT_*`` values ``profiles.yml`` reads.

    Returns:
        ``<target_root>/parse-<hash>``, created if missing.
    """
    digest = hashlib.sha256(repr(sorted(profile_env.items())).encode()).hexdigest()[:16]
    folder = target_root / f"parse-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def keep_parse(parsed: Path, cache: Path) -> None:
    """Make ``parsed`` (a ``partial_parse.msgpack``) the cache's parse if it has none yet.

    Written to a temporary name and renamed, so a concurrent run never reads half a file.

    Args:
        parsed: A parse file dbt wrote for the cache's profile.
        cache: The profile's parse cache (:func:`parse_cache`).
    """
    target = cache / PARTIAL_PARSE
    if target.exists() or not parsed.is_file():
        return
    partial = cache / f".{PARTIAL_PARSE}.{os.getpid()}"
    shutil.copyfile(parsed, partial)
    os.replace(partial, target)


def tidy_after(invocation: DbtCliInvocation, cache: Path) -> None:
    """Tidy up after a successful invocation: keep its parse, drop its target folder.

    Its parse is kept for the profile when the cache has none, and failed runs' folders
    older than :data:`KEEP_FAILED` are removed too.

    Args:
        invocation: A finished, successful dbt invocation.
        cache: The parse cache it ran with.
    """
    folder = Path(invocation.target_path)
    keep_parse(folder / PARTIAL_PARSE, cache)
    if folder.parent == cache:
        shutil.rmtree(folder, ignore_errors=True)
    prune(cache)


def prune(cache: Path) -> None:
    """Remove what is older than :data:`KEEP_FAILED` in and beside ``cache``.

    In it: failed runs' target folders. Beside it: the parse caches of profiles no run
    used since (every test database is a profile of its own).

    Args:
        cache: A profile's parse cache (:func:`parse_cache`).
    """
    oldest = time.time() - KEEP_FAILED.total_seconds()
    stale = [p for p in cache.iterdir() if p.is_dir()]
    stale += [p for p in cache.parent.glob("parse-*") if p != cache]
    for old in stale:
        if old.is_dir() and old.stat().st_mtime < oldest:
            shutil.rmtree(old, ignore_errors=True)
