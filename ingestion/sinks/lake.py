"""The lake: every HTTP response body, verbatim, in MongoDB ``lake.responses``.

One document per response with a JSON body, error responses included (4xx, 5xx, 429 and
Kraken's errors inside a 200, with their status and a record count of 0): source,
endpoint, request {path, params} (never a key), status, selected headers, ``fetched_at``
(UTC), ``run_id``, record count and the time range the records cover, the body and
``body_sha256``. The body is the JSON text as received (``body``), or, from
:data:`COMPRESS_MIN_BYTES` on, the bytes as received compressed with zstd
(``body_zstd``, binary; lakes written before hold ``body_bz2``, bzip2, or ``body_zlib``,
zlib): :func:`stored_body` gives the exact bytes back either way. A
unique index on (source, endpoint, request, body_sha256) makes storing an identical
response again a no-op. Bodies that are not JSON
go to ``lake.quarantine``.

The ``_id`` of a response document is computed here, not by the server: it is a hash of
that same identity (:func:`document_id`), so ``raw.*`` rows can name their document before
it is written, and writing an identical response again hits the same ``_id``.
:class:`LakeWriter` writes documents in batches from its own task; callers get a future
that resolves once the server has acknowledged the document.

Only the standard MongoDB API is used, and nothing FerretDB v1 rejects: the body is text
or bytes, never parsed into BSON.
"""

from __future__ import annotations

import asyncio
import bz2
import contextlib
import hashlib
import json
import logging
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import zstandard
from bson import Binary, ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from ingestion.errors import LakeDocumentError
from ingestion.http import InvalidBody, Response

logger = logging.getLogger(__name__)

RESPONSES = "responses"
QUARANTINE = "quarantine"
META = "meta"
SUMMARY_FIELDS_MARKER = "summary_fields"  # lake.meta: older documents have been given them


DUPLICATE_KEY = 11000
WRITE_BATCH_DOCUMENTS = 64  # per insert_many, at most
WRITE_BATCH_BYTES = 8 << 20  # body bytes per insert_many, at most (one can be bigger)


MAX_QUEUED_BYTES = 64 << 20  # bodies waiting for the lake writer, at most (put waits)


def _body_size(document: dict[str, Any]) -> int:
    return (
        len(document.get("body", ""))
        + len(document.get("body_exact", b""))
        + sum(len(document.get(field, b"")) for field in DECOMPRESS)
    )


@dataclass(frozen=True, slots=True)
class BodyCodec:
    """A compression of lake bodies: the document field it fills, and both directions.

    Attributes:
        field: The binary field of a document holding a body so compressed.
        compress: The body's bytes to what is stored (releases the GIL: run in a thread).
        decompress: What is stored back to the exact bytes.
    """

    field: str
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes], bytes]


# Bodies of this many bytes or more are stored compressed (the bytes as received).
# FerretDB's SQLite backend compresses nothing and keeps binary as base64 text (4/3 of its
# size), plus ~1.7 kB of metadata and its type schema a document, so its files hold about
# 4/3 of what the codec leaves plus 0.05 of the bodies. Measured on the simulator's candle
# pages (benchmarks/bench_lake_codecs.py; one core's CPU): zstd level 1 leaves 0.31 of 1m
# pages and 0.34 of 1h pages at ~0.004 CPU s per MB (FerretDB's files 0.46 and 0.51);
# zstd's optimal parser (btopt) 0.27 and 0.30 at ~0.05 s/MB (files ~0.43 and 0.45); its
# lazy2 strategy (ZSTD_PAGES below) 0.32 of 1h pages at ~0.016 s/MB (files 0.48); bzip2 -9
# 0.28 and 0.32 at ~0.07 s/MB; zlib level 1 0.38 and 0.41 at ~0.01 s/MB. So pages of
# records less than an hour apart (minute candles, snapshots: the volume of a large
# history, 60 times the pages of an hourly one) get level 1, and every other page lazy2,
# which keeps hourly pages under half on FerretDB where level 1 does not. Both are zstd frames in
# ``body_zstd``; zstd.decompress reads either. Smaller bodies (error bodies) stay text.
COMPRESS_MIN_BYTES = 512
ZSTD_LEVEL = 1  # pages of records less than an hour apart
# zstd's lazy2 strategy (as levels 6-7) with small tables and a 5-byte minimum match: on
# the candle pages (~4-180 kB) it leaves 0.32 of 1h pages at ~0.016 CPU s per MB, where the
# optimal parser (btopt, small tables) left 0.30 at ~0.055 s/MB: FerretDB's files ~0.48 of
# the bodies against 0.44, under the half the lake is held to, for a quarter of the CPU (a
# second of the pipeline's on a year of hourly candles, 26.9 MB). A 4-byte minimum match
# leaves 0.34, 6 bytes 0.32; level 1 leaves 0.34 (files 0.51, over the half).
ZSTD_PAGES = zstandard.ZstdCompressionParameters(
    strategy=zstandard.STRATEGY_LAZY2,
    window_log=17,
    chain_log=13,
    hash_log=13,
    search_log=2,
    min_match=5,
)
DENSE_SPACING = timedelta(hours=1)  # records closer than this apart: ZSTD_LEVEL


def _zstd_fast(data: bytes) -> bytes:
    return zstandard.compress(data, ZSTD_LEVEL)


def _zstd_pages(data: bytes) -> bytes:
    # a compressor per call: a ZstdCompressor is not to be shared between threads
    return zstandard.ZstdCompressor(compression_params=ZSTD_PAGES).compress(data)


CODECS: dict[str, BodyCodec] = {
    "zstd-1": BodyCodec("body_zstd", _zstd_fast, zstandard.decompress),
    "zstd-lazy2": BodyCodec("body_zstd", _zstd_pages, zstandard.decompress),
    # what lakes written before zstd hold: bzip2 (900 kB blocks), and before it zlib
    "bzip2": BodyCodec("body_bz2", lambda data: bz2.compress(data, 9), bz2.decompress),
    "zlib": BodyCodec("body_zlib", lambda data: zlib.compress(data, 1), zlib.decompress),
}
CODEC = CODECS["zstd-1"]  # what new documents hold (CODEC_SPARSE for sparse pages)
CODEC_SPARSE = CODECS["zstd-lazy2"]
COMPRESSED_FIELD = CODEC.field
# Every compressed body field a lake may hold, and how to get the bytes back.
DECOMPRESS: dict[str, Callable[[bytes], bytes]] = {c.field: c.decompress for c in CODECS.values()}


def codec_for(document: dict[str, Any]) -> BodyCodec:
    """How the lake compresses ``document``'s body: by how far apart its records are.

    Records less than :data:`DENSE_SPACING` apart on average (minute candles; a snapshot's
    records, all of one time) get :data:`CODEC`, zstd level 1; any other page (hourly and
    daily candles, pages without a time range) :data:`CODEC_SPARSE`, zstd's lazy2 strategy.
    """
    first, last = document.get("records_from"), document.get("records_to")
    count = document.get("record_count") or 0
    if not (isinstance(first, datetime) and isinstance(last, datetime) and count >= 2):
        return CODEC_SPARSE
    return CODEC if (last - first) / (count - 1) < DENSE_SPACING else CODEC_SPARSE


def compressed_field(document: dict[str, Any]) -> str | None:
    """The field holding ``document``'s compressed body, if its body is stored compressed."""
    return next((field for field in DECOMPRESS if field in document), None)


def compress_body(document: dict[str, Any], codec: BodyCodec | None = None) -> dict[str, Any]:
    """``document`` as stored: a large ``body`` (with its ``body_exact``) compressed.

    ``codec`` (by default :func:`codec_for` the document) fills its field (``body_zstd``)
    with the exact bytes received, compressed. The input is not changed.
    """
    text = document.get("body")
    if not isinstance(text, str) or compressed_field(document):
        return document
    exact = document.get("body_exact")
    raw = bytes(exact) if exact is not None else text.encode("utf-8")
    if len(raw) < COMPRESS_MIN_BYTES:
        return document
    codec = codec or codec_for(document)
    stored = {k: v for k, v in document.items() if k not in ("body", "body_exact")}
    stored[codec.field] = Binary(codec.compress(raw))
    return stored


# BSON documents hold 16 MiB; the metadata around a body is small.
MAX_DOCUMENT_BODY = (16 << 20) - (64 << 10)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """Where one response is stored in the lake, and whether this write stored it.

    Attributes:
        document_id: the document's ``_id``: 32 hex digits (an ObjectId's hex in older lakes).
        is_new: False when the same response was already stored.
    """

    document_id: str  # the document's _id: 32 hex digits (an ObjectId's hex in older lakes)
    is_new: bool


def body_sha256(text: str, raw: bytes | None = None) -> str:
    """SHA-256 of the body exactly as received (``raw``; else ``text`` as UTF-8)."""
    return hashlib.sha256(raw if raw is not None else text.encode("utf-8")).hexdigest()


def body_fields(text: str, raw: bytes | None, field: str = "body") -> dict[str, Any]:
    """How a body is stored: its text, and the exact bytes too when they are not valid UTF-8.

    Invalid UTF-8 means the text had to replace some bytes; the bytes received are then kept
    as ``<field>_exact``.
    """
    fields: dict[str, Any] = {field: text}
    if raw is not None:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            fields[f"{field}_exact"] = Binary(raw)
    return fields


def stored_body(document: dict[str, Any]) -> bytes:
    """The exact bytes of a stored response's body (compressed or not)."""
    field = compressed_field(document)
    if field is not None:
        return DECOMPRESS[field](bytes(document[field]))
    exact = document.get("body_exact")
    return bytes(exact) if exact is not None else str(document.get("body", "")).encode("utf-8")


def stored_text(document: dict[str, Any]) -> str:
    """A stored response's body as text (bytes that are not UTF-8 replaced, as when received)."""
    text = document.get("body")
    if isinstance(text, str):
        return text
    return stored_body(document).decode("utf-8", errors="replace")


def request_doc(path: str, params: dict[str, str]) -> dict[str, Any]:
    """The ``request`` of a response document: its path, then its params sorted by name.

    Key order is part of equality for embedded documents, so it is always the same.
    """
    # Key order is part of equality for embedded documents: always path, then sorted params.
    return {"path": path, "params": {k: params[k] for k in sorted(params)}}


def document_id(source: str, endpoint: str, path: str, params: dict[str, str], sha256: str) -> str:
    """The ``_id`` of a response: a hash of its identity (the unique index's fields)."""
    identity = json.dumps(
        [source, endpoint, request_doc(path, params), sha256],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]


def response_document(
    response: Response,
    *,
    run_id: str,
    record_count: int,
    records_from: datetime | None = None,
    records_to: datetime | None = None,
) -> dict[str, Any]:
    """The ``lake.responses`` document of ``response``, ``_id`` included."""
    sha = body_sha256(response.text, response.raw)
    return {
        "_id": document_id(response.source, response.endpoint, response.path, response.params, sha),
        "source": response.source,
        "endpoint": response.endpoint,
        "request": request_doc(response.path, response.params),
        "body_sha256": sha,
        "status": response.status,
        "headers": response.headers,
        "fetched_at": response.fetched_at,
        "run_id": run_id,
        "record_count": record_count,
        "records_from": records_from,
        "records_to": records_to,
        **summary_fields(response.text, response.fetched_at),
        **body_fields(response.text, response.raw),
    }


def summary_fields(text: str, fetched_at: datetime) -> dict[str, Any]:
    """What the dashboard's lake aggregations group on: body size in UTF-8 bytes, UTC fetch day.

    They are stored because FerretDB v1 implements neither ``$strLenBytes`` nor any date
    operator in aggregation pipelines.
    """
    at = fetched_at if fetched_at.tzinfo else fetched_at.replace(tzinfo=UTC)
    return {
        "body_bytes": len(text.encode("utf-8")),
        "fetched_day": at.astimezone(UTC).date().isoformat(),
    }


def _identity(document: dict[str, Any]) -> dict[str, Any]:
    return {k: document[k] for k in ("source", "endpoint", "request", "body_sha256")}


class Lake:
    """``lake.responses`` and ``lake.quarantine`` of one database."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.db = database
        self.responses = database[RESPONSES]
        self.quarantine = database[QUARANTINE]
        self.meta = database[META]  # the lake's own bookkeeping (one-time migrations)

    @classmethod
    def connect(cls, client: AsyncMongoClient[dict[str, Any]], database: str) -> Lake:
        """The lake in ``database`` of ``client``."""
        return cls(client[database])

    async def ensure_indexes(self) -> None:
        """Create the lake's indexes if missing, and add the summary fields older documents lack.

        The unique ``response_identity`` index (source, endpoint, request, body hash) is what
        makes storing a response twice a no-op.
        """
        await self.responses.create_index(
            [
                ("source", ASCENDING),
                ("endpoint", ASCENDING),
                ("request", ASCENDING),
                ("body_sha256", ASCENDING),
            ],
            unique=True,
            name="response_identity",
        )
        await self.responses.create_index(
            [("source", ASCENDING), ("endpoint", ASCENDING), ("fetched_at", ASCENDING)],
            name="by_endpoint_time",
        )
        await self.quarantine.create_index([("fetched_at", ASCENDING)], name="by_time")
        await self.add_summary_fields()

    async def add_summary_fields(self) -> int:
        """Give documents stored before ``body_bytes``/``fetched_day`` existed those fields.

        This happens once: a marker in ``lake.meta`` then says so, and later calls return
        at once. The query reads every document on FerretDB v1 (it has no index on a
        missing field): 26 s on a lake of 20 M candles, on every run before the marker.

        Returns:
            How many documents were updated.
        """
        marker = {"_id": SUMMARY_FIELDS_MARKER}
        if await self.meta.find_one(marker) is not None:
            return 0  # done: every document written since has them
        updated = 0
        for collection, text_field in ((self.responses, "body"), (self.quarantine, "raw_text")):
            missing = collection.find(
                {"body_bytes": {"$exists": False}}, {text_field: 1, "fetched_at": 1}
            )
            async for document in missing:
                fields = summary_fields(document.get(text_field) or "", document["fetched_at"])
                await collection.update_one({"_id": document["_id"]}, {"$set": fields})
                updated += 1
        if updated:
            logger.info("lake: added body_bytes/fetched_day to %d older documents", updated)
        await self.meta.update_one(
            marker, {"$set": {"done_at": datetime.now(UTC), "updated": updated}}, upsert=True
        )
        return updated

    async def store_response(
        self,
        response: Response,
        *,
        run_id: str,
        record_count: int,
        records_from: datetime | None = None,
        records_to: datetime | None = None,
    ) -> StoredResponse:
        """Insert the response; an identical one already stored is returned instead."""
        document = response_document(
            response,
            run_id=run_id,
            record_count=record_count,
            records_from=records_from,
            records_to=records_to,
        )
        return (await self.store_many([document]))[0]

    async def store_many(self, documents: list[dict[str, Any]]) -> list[StoredResponse]:
        """Insert documents made by :func:`response_document` in one unordered batch.

        Documents already stored (same identity) are not written again; the result says, for
        each, which ``_id`` holds it and whether it is new.

        Raises:
            LakeDocumentError: the first document that failed (see :meth:`store_each` for one
                outcome per document).
        """
        results = await self.store_each(documents)
        for result in results:
            if isinstance(result, LakeDocumentError):
                raise result
        return [r for r in results if isinstance(r, StoredResponse)]

    async def store_each(
        self, documents: list[dict[str, Any]]
    ) -> list[StoredResponse | LakeDocumentError]:
        """:meth:`store_many`, with one outcome per document.

        A document the server (or the BSON size limit) refuses fails alone, its error matched to
        it by index, and the others of the batch are stored. A failure of the whole call (the
        server gone, a write concern not met) raises.
        """
        outcomes: list[StoredResponse | LakeDocumentError | None] = [None] * len(documents)
        sendable: list[int] = []
        for i, document in enumerate(documents):
            size = _body_size(document)
            if size > MAX_DOCUMENT_BODY:
                outcomes[i] = LakeDocumentError(
                    f"body of {size} bytes is over what one lake document holds "
                    f"({MAX_DOCUMENT_BODY} bytes)"
                )
            else:
                sendable.append(i)
        batch = [documents[i] for i in sendable]
        if any(_body_size(d) >= COMPRESS_MIN_BYTES for d in batch):
            # zstd lets go of the GIL: the other core compresses while the run goes on.
            batch = await asyncio.to_thread(lambda: [compress_body(d) for d in batch])
        duplicates: set[int] = set()
        if batch:
            try:
                await self.responses.insert_many(batch, ordered=False)
            except BulkWriteError as err:
                if err.details.get("writeConcernErrors"):
                    raise
                for error in err.details.get("writeErrors", []):
                    index = sendable[int(error["index"])]
                    if error.get("code") == DUPLICATE_KEY:
                        duplicates.add(index)
                    else:
                        outcomes[index] = LakeDocumentError(
                            f"MongoDB refused the document (code {error.get('code')}): "
                            f"{str(error.get('errmsg', ''))[:300]}"
                        )
        results: list[StoredResponse] = [
            StoredResponse(str(d["_id"]), i not in duplicates) for i, d in enumerate(documents)
        ]
        if duplicates:
            await self._resolve_duplicates(documents, duplicates, results)
        return [
            outcome if outcome is not None else results[i] for i, outcome in enumerate(outcomes)
        ]

    async def _resolve_duplicates(
        self,
        documents: list[dict[str, Any]],
        duplicates: set[int],
        results: list[StoredResponse],
    ) -> None:
        """Which ``_id`` holds each duplicate: ours, or (older lakes) a server ObjectId."""
        ids = [documents[i]["_id"] for i in duplicates]
        found = {d["_id"] async for d in self.responses.find({"_id": {"$in": ids}}, {"_id": 1})}
        for i in duplicates:
            if documents[i]["_id"] in found:
                continue
            existing = await self.responses.find_one(_identity(documents[i]), {"_id": 1})
            if existing is None:  # deleted in between: store it after all
                with contextlib.suppress(DuplicateKeyError):
                    await self.responses.insert_one(compress_body(documents[i]))
                results[i] = StoredResponse(str(documents[i]["_id"]), True)
            else:
                results[i] = StoredResponse(str(existing["_id"]), False)

    async def store_invalid(self, invalid: InvalidBody, *, run_id: str) -> str:
        """Keep a body that is not JSON, with the reason; returns the document id."""
        result = await self.quarantine.insert_one(
            {
                "source": invalid.source,
                "endpoint": invalid.endpoint,
                "request": request_doc(invalid.path, invalid.params),
                "status": invalid.status,
                "headers": invalid.headers,
                "fetched_at": invalid.fetched_at,
                "run_id": run_id,
                "reason": invalid.reason,
                **body_fields(invalid.text, invalid.raw, "raw_text"),
                "body_sha256": body_sha256(invalid.text, invalid.raw),
                **summary_fields(invalid.text, invalid.fetched_at),
            }
        )
        return str(result.inserted_id)

    async def iter_responses(
        self,
        *,
        source: str | None = None,
        endpoint: str | None = None,
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
        """The document with this ``_id`` (computed hex, or an older lake's ObjectId)."""
        ids: list[Any] = [document_id]
        with contextlib.suppress(InvalidId, TypeError):
            ids.append(ObjectId(document_id))
        return await self.responses.find_one({"_id": {"$in": ids}})

    async def latest(
        self, *, source: str | None = None, endpoint: str | None = None
    ) -> dict[str, Any] | None:
        """The newest stored response, of ``source`` and ``endpoint`` when given; None if none."""
        query: dict[str, Any] = {}
        if source:
            query["source"] = source
        if endpoint:
            query["endpoint"] = endpoint
        return await self.responses.find_one(query, sort=[("fetched_at", -1), ("_id", -1)])


class LakeWriter:
    """Writes response documents from its own task, in batches, while the run goes on.

    ``submit`` queues a document and returns a future that resolves to its
    :class:`StoredResponse` once the server has acknowledged the batch holding it (or
    raises what the write raised). Whatever is queued while a batch is being written
    becomes the next batch, so a slow server gets bigger batches, never a longer queue of
    small ones. Use as ``async with LakeWriter(lake) as writer``; leaving waits for every
    queued document. :meth:`put` waits while more than ``max_queued_bytes`` of bodies are
    queued.
    """

    def __init__(self, lake: Lake, max_queued_bytes: int = MAX_QUEUED_BYTES) -> None:
        self.lake = lake
        self.max_queued_bytes = max_queued_bytes
        self._queued_bytes = 0
        self._drained = asyncio.Event()
        self._queue: asyncio.Queue[tuple[dict[str, Any], asyncio.Future[StoredResponse]] | None] = (
            asyncio.Queue()
        )
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LakeWriter:
        self._task = asyncio.create_task(self._run(), name="lake-writer")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Write what is queued, then stop the writer's task (once; later calls do nothing)."""
        if self._task is None:
            return
        await self._queue.put(None)
        task, self._task = self._task, None
        await task

    def submit(self, document: dict[str, Any]) -> asyncio.Future[StoredResponse]:
        """Queue ``document`` now, however full the queue is (see :meth:`put`)."""
        if self._task is None:
            raise RuntimeError("LakeWriter is not running: use it as an async context manager")
        future: asyncio.Future[StoredResponse] = asyncio.get_running_loop().create_future()
        self._queued_bytes += _body_size(document)
        self._queue.put_nowait((document, future))
        return future

    async def put(self, document: dict[str, Any]) -> asyncio.Future[StoredResponse]:
        """:meth:`submit`, once the bodies queued before it are under ``max_queued_bytes``.

        A slow server slows the fetches down instead of filling memory.
        """
        while self._queued_bytes >= self.max_queued_bytes and self._task is not None:
            self._drained.clear()
            await self._drained.wait()
        return self.submit(document)

    async def _run(self) -> None:
        closing = False
        while not closing:
            item = await self._queue.get()
            if item is None:
                break
            batch = [item]
            size = _body_size(item[0])
            while (
                not self._queue.empty()
                and len(batch) < WRITE_BATCH_DOCUMENTS
                and size < WRITE_BATCH_BYTES
            ):
                following = self._queue.get_nowait()
                if following is None:
                    closing = True
                    break
                batch.append(following)
                size += _body_size(following[0])
            await self._write(batch)

    async def _write(
        self, batch: list[tuple[dict[str, Any], asyncio.Future[StoredResponse]]]
    ) -> None:
        try:
            await self._store(batch)
        finally:
            self._queued_bytes -= sum(_body_size(document) for document, _ in batch)
            self._drained.set()

    async def _store(
        self, batch: list[tuple[dict[str, Any], asyncio.Future[StoredResponse]]]
    ) -> None:
        try:
            results = await self.lake.store_each([document for document, _ in batch])
        except Exception as err:  # every waiter learns why; the writer goes on
            logger.warning("lake write of %d documents failed: %s", len(batch), err)
            for _, future in batch:
                if not future.done():
                    future.set_exception(err)
            return
        for (document, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, LakeDocumentError):  # this one only: the rest are stored
                logger.warning(
                    "lake document %s (%s/%s) not stored: %s",
                    document.get("_id"),
                    document.get("source"),
                    document.get("endpoint"),
                    result,
                )
                future.set_exception(result)
            else:
                future.set_result(result)
