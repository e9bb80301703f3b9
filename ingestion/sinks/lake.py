"""The lake: every HTTP response body, verbatim, in MongoDB ``lake.responses``.

One document per response with a JSON body: source, endpoint, request {path, params}
(never a key), status, selected headers, ``fetched_at`` (UTC), ``run_id``, record count and
the time range the records cover, ``body`` (the JSON text as received) and ``body_sha256``.
A unique index on (source, endpoint, request, body_sha256) makes storing an identical
response again a no-op. Bodies that are not JSON go to ``lake.quarantine``.

Only the standard MongoDB API is used, and nothing FerretDB v1 rejects: the body is text.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ingestion.http import InvalidBody, Response

RESPONSES = "responses"
QUARANTINE = "quarantine"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    document_id: str  # ObjectId hex
    is_new: bool


def body_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def request_doc(path: str, params: dict[str, str]) -> dict[str, Any]:
    # Key order is part of equality for embedded documents: always path, then sorted params.
    return {"path": path, "params": {k: params[k] for k in sorted(params)}}


class Lake:
    """``lake.responses`` and ``lake.quarantine`` of one database."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.db = database
        self.responses = database[RESPONSES]
        self.quarantine = database[QUARANTINE]

    @classmethod
    def connect(cls, client: AsyncMongoClient[dict[str, Any]], database: str) -> Lake:
        return cls(client[database])

    async def ensure_indexes(self) -> None:
        await self.responses.create_index(
            [("source", ASCENDING), ("endpoint", ASCENDING), ("request", ASCENDING),
             ("body_sha256", ASCENDING)],
            unique=True, name="response_identity",
        )
        await self.responses.create_index(
            [("source", ASCENDING), ("endpoint", ASCENDING), ("fetched_at", ASCENDING)],
            name="by_endpoint_time",
        )
        await self.quarantine.create_index([("fetched_at", ASCENDING)], name="by_time")

    async def store_response(
        self,
        response: Response,
        *,
        run_id: str,
        record_count: int,
        records_from: datetime | None,
        records_to: datetime | None,
    ) -> StoredResponse:
        """Insert the response; an identical one already stored is returned instead."""
        sha = body_sha256(response.text)
        identity = {
            "source": response.source,
            "endpoint": response.endpoint,
            "request": request_doc(response.path, response.params),
            "body_sha256": sha,
        }
        document = {
            **identity,
            "status": response.status,
            "headers": response.headers,
            "fetched_at": response.fetched_at,
            "run_id": run_id,
            "record_count": record_count,
            "records_from": records_from,
            "records_to": records_to,
            "body": response.text,
        }
        try:
            result = await self.responses.insert_one(document)
            return StoredResponse(str(result.inserted_id), True)
        except DuplicateKeyError:
            existing = await self.responses.find_one(identity, {"_id": 1})
            if existing is None:  # deleted in between: store it after all
                result = await self.responses.insert_one(document)
                return StoredResponse(str(result.inserted_id), True)
            return StoredResponse(str(existing["_id"]), False)

    async def store_invalid(self, invalid: InvalidBody, *, run_id: str) -> str:
        """Keep a body that is not JSON, with the reason; returns the document id."""
        result = await self.quarantine.insert_one({
            "source": invalid.source,
            "endpoint": invalid.endpoint,
            "request": request_doc(invalid.path, invalid.params),
            "status": invalid.status,
            "headers": invalid.headers,
            "fetched_at": invalid.fetched_at,
            "run_id": run_id,
            "reason": invalid.reason,
            "raw_text": invalid.text,
            "body_sha256": body_sha256(invalid.text),
        })
        return str(result.inserted_id)

    async def iter_responses(
        self, *, source: str | None = None, endpoint: str | None = None,
        since: datetime | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Stored responses, oldest first (so replaying them leaves the newest versions)."""
        query: dict[str, Any] = {}
        if source:
            query["source"] = source
        if endpoint:
            query["endpoint"] = endpoint
        if since is not None:
            query["fetched_at"] = {"$gte": since}
        cursor = self.responses.find(query).sort([("fetched_at", ASCENDING), ("_id", ASCENDING)])
        async for document in cursor:
            yield document

    async def get(self, document_id: str) -> dict[str, Any] | None:
        return await self.responses.find_one({"_id": ObjectId(document_id)})

    async def latest(
        self, *, source: str | None = None, endpoint: str | None = None
    ) -> dict[str, Any] | None:
        query: dict[str, Any] = {}
        if source:
            query["source"] = source
        if endpoint:
            query["endpoint"] = endpoint
        return await self.responses.find_one(query, sort=[("fetched_at", -1), ("_id", -1)])
