"""Every query the dashboard runs on the MongoDB lake, and nothing else.

The twin of ``dashboard/data/`` for the other store: that module speaks SQL to PostgreSQL
through psycopg, this one aggregation pipelines to MongoDB through pymongo, with its own
connection settings and failure modes, so neither grows a second client. Pages call these
functions only.

The lake is read with ``CRIPTOPIPE_MONGO_READER_URI`` when it is set (a read-only user on a
server with auth, as docker compose configures it), else with the lake's own URI
(``CRIPTOPIPE_MONGO_URI``, or the local FerretDB, which has no auth). Each function returns
a :class:`pandas.DataFrame` (or one document), cached for a minute.

The pipelines use only what FerretDB v1 implements (``$match``, ``$group`` with ``$sum``,
``$sort``, ``$limit``, ``$project``, ``$count``): sizes and days come from the ``body_bytes``
and ``fetched_day`` fields the lake sink stores, since FerretDB has no ``$strLenBytes`` and
no date operators, and each ``$group`` has a single accumulator (see :func:`_grouped`).
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from ingestion.errors import IngestionError
from ingestion.sinks.lake import compressed_field, stored_text

logger = logging.getLogger(__name__)

TTL_LAKE = timedelta(minutes=1)
SERVER_TIMEOUT_MS = 3000
RESPONSES = "responses"
QUARANTINE = "quarantine"


class LakeUnavailable(IngestionError, RuntimeError):
    """The lake cannot answer: not reachable, or not configured."""


@dataclass(frozen=True)
class LakeStatus:
    """Whether the lake can be shown, and if not, why.

    Attributes:
        ready: the lake answered and holds at least one response.
        reason: why it is not ready (shown in the empty state); empty when ready.
        database: the lake's database name.
        responses: documents in ``responses``.
        quarantined: documents in ``quarantine``.
    """

    ready: bool
    reason: str
    database: str = ""
    responses: int = 0
    quarantined: int = 0


# --- connection -------------------------------------------------------------------------------
def reader_target() -> tuple[str, str]:
    """The read-only lake URI and the lake database, from the settings."""
    from ingestion import services
    from ingestion.settings import load_settings

    try:
        settings = load_settings()
        # ingestion.services.lake_reader_uri (CRIPTOPIPE_MONGO_READER_URI) where it exists.
        reader = getattr(services, "lake_reader_uri", None)
        uri = reader(settings) if reader else services.Services(settings).mongo_uri()
    except Exception as err:  # bad configuration
        raise LakeUnavailable(f"the lake is not set up ({err})") from err
    return uri, settings.mongo_db


def _client(uri: str) -> MongoClient[dict[str, Any]]:
    return MongoClient(
        uri,
        serverSelectionTimeoutMS=SERVER_TIMEOUT_MS,
        connectTimeoutMS=SERVER_TIMEOUT_MS,
        appname="criptopipe-dashboard",
        tz_aware=True,
    )


def _aggregate(
    uri: str, database: str, collection: str, pipeline: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    try:
        with _client(uri) as client:
            return list(client[database][collection].aggregate(pipeline))
    except PyMongoError as err:
        raise LakeUnavailable(f"the lake did not answer ({type(err).__name__})") from err


@st.cache_data(ttl=TTL_LAKE, show_spinner=False)
def _cached(
    uri: str, database: str, collection: str, pipeline: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    return _aggregate(uri, database, collection, pipeline)


def _frame(collection: str, pipeline: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    uri, database = reader_target()
    rows = _cached(uri, database, collection, pipeline)
    flat = [{**(row.pop("_id") or {}), **row} if isinstance(row.get("_id"), dict) else row
            for row in (dict(r) for r in rows)]  # fmt: skip
    frame = pd.DataFrame(flat)
    for column in columns:
        if column not in frame:
            frame[column] = pd.Series(dtype=object)
    return frame[columns]


def clear_cache() -> None:
    """Forget every cached lake query, so the next call reads MongoDB again."""
    _cached.clear()


# --- status -----------------------------------------------------------------------------------
def lake_status() -> LakeStatus:
    """Is there a lake to show? Not cached: two cheap count pipelines."""
    try:
        uri, database = reader_target()
        counts = {
            name: _aggregate(uri, database, name, [{"$count": "documents"}])
            for name in (RESPONSES, QUARANTINE)
        }
    except LakeUnavailable as err:
        return LakeStatus(False, str(err))
    responses = counts[RESPONSES][0]["documents"] if counts[RESPONSES] else 0
    quarantined = counts[QUARANTINE][0]["documents"] if counts[QUARANTINE] else 0
    if not responses and not quarantined:
        return LakeStatus(False, f"the lake database {database!r} holds no response yet", database)
    return LakeStatus(True, "", database, responses, quarantined)


# --- aggregations -----------------------------------------------------------------------------
def _grouped(
    collection: str,
    match: dict[str, Any],
    keys: list[str],
    measures: dict[str, Any],
    sort: list[tuple[str, bool]],
) -> pd.DataFrame:
    """``$match`` then ``$group`` by ``keys``, one pipeline per measure, joined on the keys.

    One accumulator per ``$group`` on purpose: FerretDB v1 computes only the first
    accumulator of a ``$group`` and returns 0 for the others.
    """
    frame = pd.DataFrame(columns=keys)
    for index, (name, accumulator) in enumerate(measures.items()):
        pipeline: list[dict[str, Any]] = [
            {"$match": match},
            {"$group": {"_id": {k: f"${k}" for k in keys}, name: accumulator}},
        ]
        part = _frame(collection, pipeline, [*keys, name])
        frame = part if index == 0 else frame.merge(part, on=keys, how="outer")
    if frame.empty:
        return frame
    columns, ascending = zip(*sort, strict=True)
    return frame.sort_values(list(columns), ascending=list(ascending), ignore_index=True)


def responses_per_day(days: int = 30, today: datetime | None = None) -> pd.DataFrame:
    """Responses, body bytes and records per source, endpoint and UTC day (last ``days``)."""
    first = ((today or datetime.now(UTC)) - timedelta(days=days - 1)).date().isoformat()
    frame = _grouped(
        RESPONSES,
        {"fetched_day": {"$gte": first}},
        ["fetched_day", "source", "endpoint"],
        {
            "responses": {"$sum": 1},
            "body_bytes": {"$sum": "$body_bytes"},
            "records": {"$sum": "$record_count"},
        },
        [("fetched_day", False), ("source", True), ("endpoint", True)],
    )
    frame = frame.rename(columns={"fetched_day": "day"})
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    return frame


def error_responses() -> pd.DataFrame:
    """Stored responses with an HTTP error status, per source, endpoint and status."""
    return _grouped(
        RESPONSES,
        {"status": {"$gte": 400}},
        ["source", "endpoint", "status"],
        {"responses": {"$sum": 1}, "body_bytes": {"$sum": "$body_bytes"}},
        [("responses", False), ("source", True), ("status", True)],
    )


def quarantine_summary() -> pd.DataFrame:
    """Bodies that were not JSON (``lake.quarantine``), per source, endpoint, status and reason."""
    return _grouped(
        QUARANTINE,
        {},
        ["source", "endpoint", "status", "reason"],
        {"bodies": {"$sum": 1}, "body_bytes": {"$sum": "$body_bytes"}},
        [("bodies", False), ("source", True)],
    )


_LISTED = {
    "source": 1,
    "endpoint": 1,
    "status": 1,
    "fetched_at": 1,
    "record_count": 1,
    "body_bytes": 1,
    "run_id": 1,
    "request": 1,
}


def newest_responses(limit: int = 50) -> pd.DataFrame:
    """The newest stored responses (without their bodies): id, when, what, status, size."""
    frame = _frame(
        RESPONSES,
        [{"$sort": {"fetched_at": -1}}, {"$limit": limit}, {"$project": _LISTED}],
        ["_id", "fetched_at", "source", "endpoint", "status", "record_count", "body_bytes",
         "run_id", "request"],
    )  # fmt: skip
    return _with_request_text(frame.rename(columns={"_id": "document_id"}))


def newest_quarantined(limit: int = 20) -> pd.DataFrame:
    """The newest quarantined bodies (without the text): id, when, what, status, reason."""
    frame = _frame(
        QUARANTINE,
        [
            {"$sort": {"fetched_at": -1}},
            {"$limit": limit},
            {"$project": {**{k: 1 for k in _LISTED if k != "record_count"}, "reason": 1}},
        ],
        ["_id", "fetched_at", "source", "endpoint", "status", "reason", "body_bytes", "run_id",
         "request"],
    )  # fmt: skip
    frame["_id"] = frame["_id"].astype(str)
    return _with_request_text(frame.rename(columns={"_id": "document_id"}))


def _with_request_text(frame: pd.DataFrame) -> pd.DataFrame:
    def text(request: Any) -> str:
        if not isinstance(request, dict):
            return ""
        params = "&".join(f"{k}={v}" for k, v in (request.get("params") or {}).items())
        return f"{request.get('path', '')}?{params}" if params else str(request.get("path", ""))

    return frame.assign(request=frame["request"].map(text))


def stored_body(collection: str, document_id: str) -> dict[str, Any] | None:
    """One stored document with its body, by id: ``responses`` (``body``) or ``quarantine``.

    A large response body is stored compressed (``body_zstd``; ``body_bz2`` or
    ``body_zlib`` in older lakes): it comes back as ``body``, decompressed.

    A quarantined document holds its body as ``raw_text``. Not cached: bodies can be large.

    Raises:
        ValueError: ``collection`` is neither ``responses`` nor ``quarantine``.
    """
    from bson import ObjectId
    from bson.errors import InvalidId

    if collection not in (RESPONSES, QUARANTINE):
        raise ValueError(f"unknown lake collection {collection!r}")
    uri, database = reader_target()
    ids: list[Any] = [document_id]
    with contextlib.suppress(InvalidId, TypeError):  # quarantine ids are ObjectIds
        ids.append(ObjectId(document_id))
    pipeline: list[dict[str, Any]] = [{"$match": {"_id": {"$in": ids}}}, {"$limit": 1}]
    rows = _aggregate(uri, database, collection, pipeline)
    if not rows:
        return None
    document = rows[0]
    field = compressed_field(document)
    if field is not None:  # a large body is stored compressed: show its text
        document["body"] = stored_text(document)
        del document[field]
    return document


# --- formatting -------------------------------------------------------------------------------
class _Number(str):
    """A JSON number kept as the text it was written as (no float rounding, no int limit)."""


def pretty_json(text: str) -> str | None:
    """``text`` re-indented (two spaces), every number exactly as stored; None if not JSON."""
    try:
        value = json.loads(text, parse_float=_Number, parse_int=_Number, parse_constant=_Number)
    except ValueError:
        return None
    return _dump(value, 0)


def _dump(value: Any, depth: int) -> str:
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {_dump(v, depth + 1)}"
                 for k, v in value.items()]  # fmt: skip
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if (
            all(isinstance(v, (_Number, str, bool)) or v is None for v in value)
            and len(value) <= 12
        ):
            return "[" + ", ".join(_dump(v, depth + 1) for v in value) + "]"  # a candle row
        return "[\n" + ",\n".join(f"{inner}{_dump(v, depth + 1)}" for v in value) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False)
