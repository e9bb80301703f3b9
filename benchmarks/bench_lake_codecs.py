"""The lake's body codecs side by side: size on FerretDB's files, CPU per MB, byte for byte.

The simulator (its own process) serves candle pages of the four exchanges: 1m candles of
10 assets over 3 days and 1h candles over a year (what ``bench_scale`` and
``bench_ingestion`` load). Their bodies, fetched once through the pipeline's own client,
are stored by every codec the lake reads (:data:`ingestion.sinks.lake.CODECS`) as the
lake's real documents (same metadata, same indexes), each codec in a database of its own
on the local MongoDB-protocol server; SQLite's write-ahead log is checkpointed before the
files are measured. Prints, per codec and interval (and for ``lake``, the codec the lake
picks for each page: :func:`ingestion.sinks.lake.codec_for`): what the codec leaves of the
bodies,
FerretDB's files over the bodies (the goal: at most 0.5), and the CPU seconds per MB of
bodies to compress and to decompress (one core, this process). Every body is checked to
come back byte for byte.

    uv run python benchmarks/bench_lake_codecs.py [--assets BTC,ETH,...]

Uses databases ``lake_codec_<codec>_<interval>``, dropped before and after. Not a test.

``--from-lake mongodb://host:port/database`` measures a lake already loaded instead (for
example ``bench_scale``'s ``lake_scale_20m``, however old its codec): every document is
read, its body checked against its SHA-256, compressed as the lake writes it today
(:func:`~ingestion.sinks.lake.codec_for`) and stored, same metadata and indexes, in the
database ``lake_recoded`` of the local server (dropped before, kept after for a look). It
prints the bodies, what each codec leaves of them, and FerretDB's files over the bodies.
The source is only read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingestion import ASSETS, NOW, lake_files, simulator_process
from pymongo import AsyncMongoClient, MongoClient

from ingestion.connectors.base import PlanContext
from ingestion.connectors.registry import select
from ingestion.http import HttpClient
from ingestion.services import Services
from ingestion.settings import SOURCES, Settings, load_settings
from ingestion.simulator.resolved import sim_assets
from ingestion.sinks.lake import (
    CODECS,
    COMPRESS_MIN_BYTES,
    DECOMPRESS,
    RESPONSES,
    BodyCodec,
    Lake,
    body_fields,
    body_sha256,
    codec_for,
    compress_body,
    compressed_field,
    response_document,
    stored_body,
)

WINDOWS = {"1m": timedelta(days=3), "1h": timedelta(days=365)}


async def fetch_documents(settings: Settings, assets: list[str], interval: str) -> list[Any]:
    """The lake documents (body as text) of every candle page of ``interval``."""
    settings = settings.model_copy(update={"candle_intervals": (interval,)})
    specs = select(
        ["binance", "coinbase", "kraken", "mercadobitcoin"], ["klines", "candles", "ohlc"]
    )
    ctx = PlanContext(settings, sim_assets(*assets), NOW, NOW - WINDOWS[interval], NOW, {})
    async with HttpClient(settings) as http:

        async def one(spec: Any, request: Any) -> dict[str, Any]:
            response = await http.get_json(spec.source, spec.endpoint, request.path, request.params)
            parsed = spec.parse(request.path, request.params, response.data, response.fetched_at)
            first, last = parsed.time_range
            return response_document(
                response,
                run_id="bench",
                record_count=len(parsed.records),
                records_from=first,
                records_to=last,
            )

        documents = await asyncio.gather(*(one(s, r) for s in specs for r in s.plan(ctx)))
    return [d for d in documents if len(stored_body(d)) >= COMPRESS_MIN_BYTES]


async def empty_lake(services: Services, database: str) -> None:
    """``database`` on the local server dropped, then given the lake's indexes."""
    with MongoClient[dict[str, Any]](services.mongo_uri()) as client:
        client.drop_database(database)
    client_async: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(services.mongo_uri())
    try:
        await Lake.connect(client_async, database).ensure_indexes()
    finally:
        await client_async.close()


async def measure(
    services: Services, documents: list[dict[str, Any]], interval: str
) -> list[tuple[str, float, float, float, float]]:
    """Per codec: stored/bodies, files/bodies, compress and decompress CPU s per MB."""
    bodies = [stored_body(d) for d in documents]
    total = sum(map(len, bodies))
    rows = []
    data_dir = services.settings.home / "mongo" / "data"
    choices: list[tuple[str, BodyCodec | None]] = [("lake", None), *CODECS.items()]
    for name, codec in choices:
        started = time.process_time()
        stored = [compress_body(d, codec) for d in documents]
        compress_cpu = time.process_time() - started
        started = time.process_time()
        back = [stored_body(d) for d in stored]
        decompress_cpu = time.process_time() - started
        if back != bodies:
            raise SystemExit(f"{name}: a body did not come back byte for byte")
        packed = sum(len(d[compressed_field(d) or ""]) for d in stored)
        database = f"lake_codec_{name.replace('-', '_')}_{interval}"
        await empty_lake(services, database)
        with MongoClient[dict[str, Any]](services.mongo_uri()) as client:
            responses = client[database][RESPONSES]
            for offset in range(0, len(stored), 64):
                responses.insert_many(stored[offset : offset + 64])
            wanted = {d["_id"]: body for d, body in zip(documents, bodies, strict=True)}
            read = {d["_id"]: stored_body(d) for d in responses.find({})}
            if read != wanted:
                raise SystemExit(f"{name}: the server gave a body back changed")
            files = lake_files(data_dir, database) if not services.external_mongo else 0
            client.drop_database(database)
        mb = total / 1e6
        rows.append((name, packed / total, files / total, compress_cpu / mb, decompress_cpu / mb))
    return rows


async def main(assets: list[str]) -> None:
    base = load_settings()
    services = Services(base)
    services.up()
    load_before = os.getloadavg()
    with simulator_process() as urls:
        urls.pop("_pid")
        settings = base.model_copy(
            update={
                **{f"{s}_base_url": urls[s] for s in SOURCES},
                "http_rate_limits": {s: 0 for s in SOURCES},
            }
        )
        fetched = {i: await fetch_documents(settings, assets, i) for i in WINDOWS}
    print(
        f"{len(assets)} assets on 4 exchanges; 'lake' is what the lake writes: a codec per page "
        "(ingestion.sinks.lake.codec_for)"
    )
    names = {id(codec): name for name, codec in CODECS.items()}
    for interval, documents in fetched.items():
        total = sum(len(stored_body(d)) for d in documents)
        chosen = Counter(names[id(codec_for(d))] for d in documents)
        print(
            f"\n{interval} candles over {WINDOWS[interval].days} days: {len(documents)} pages, "
            f"{total / 1e6:.1f} MB of bodies; the lake's codec: "
            + ", ".join(f"{name} {n} pages" for name, n in chosen.most_common())
        )
        print("  codec    stored/bodies  FerretDB files/bodies  compress s/MB  decompress s/MB")
        for name, packed, files, compress, decompress in await measure(
            services, documents, interval
        ):
            print(
                f"  {name:<8} {packed:13.3f}  {files:21.3f}  {compress:13.4f}  {decompress:15.4f}"
            )
    print(
        f"\nmachine: {os.cpu_count()} CPUs, load average {load_before[0]:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after; every body came back byte for byte"
    )


RECODED = "lake_recoded"


def as_received(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with its body as the pipeline has it before the lake compresses it."""
    raw = stored_body(document)
    if body_sha256("", raw) != document.get("body_sha256"):
        raise SystemExit(f"{document['_id']}: the stored body does not match its SHA-256")
    kept = {k: v for k, v in document.items() if k not in DECOMPRESS and k != "body_exact"}
    return {**kept, **body_fields(raw.decode("utf-8", errors="replace"), raw)}


async def recode(uri: str) -> None:
    """Every document of the lake at ``uri`` stored again as the lake writes it today."""
    source_db = uri.rstrip("/").rsplit("/", 1)[-1]
    if not source_db or ":" in source_db:
        raise SystemExit("--from-lake needs the database: mongodb://host:port/<database>")
    services = Services(load_settings())
    services.up()
    if services.external_mongo:
        raise SystemExit("--from-lake writes to the local FerretDB (CRIPTOPIPE_MONGO_URI is set)")
    data_dir = services.settings.home / "mongo" / "data"
    load_before = os.getloadavg()
    await empty_lake(services, RECODED)
    bodies = packed = documents = 0
    by_codec: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    names = {id(codec): name for name, codec in CODECS.items()}
    cpu = 0.0
    started = time.monotonic()
    with (
        MongoClient[dict[str, Any]](uri) as source,
        MongoClient[dict[str, Any]](services.mongo_uri()) as target,
    ):
        total = source[source_db][RESPONSES].estimated_document_count()
        responses = target[RECODED][RESPONSES]
        batch: list[dict[str, Any]] = []
        for document in source[source_db][RESPONSES].find({}, batch_size=64):
            by_source[compressed_field(document) or "text"] += 1
            began = time.process_time()
            received = as_received(document)
            stored = compress_body(received)
            cpu += time.process_time() - began
            field = compressed_field(stored)
            size = len(stored_body(stored))
            bodies += size
            packed += len(stored[field]) if field else size
            by_codec[names[id(codec_for(received))] if field else "text"] += 1
            batch.append(stored)
            documents += 1
            if len(batch) == 64:
                responses.insert_many(batch)
                batch = []
            if documents % 5000 == 0:
                print(
                    f"  {documents:,} of ~{total:,} documents, {bodies / 1e9:.2f} GB of bodies, "
                    f"{time.monotonic() - started:.0f} s",
                    flush=True,
                )
        if batch:
            responses.insert_many(batch)
        checked = 0
        for document in responses.find({}, batch_size=64):
            if body_sha256("", stored_body(document)) != document["body_sha256"]:
                raise SystemExit(f"{document['_id']}: the server gave a body back changed")
            checked += 1
    files = lake_files(data_dir, RECODED)
    print(
        f"{uri}: {documents:,} documents ({', '.join(f'{n} {f}' for f, n in by_source.items())}),"
        f" {bodies / 1e9:.3f} GB of bodies"
    )
    print(
        "stored again as the lake writes today ("
        + ", ".join(f"{n} {c}" for c, n in by_codec.most_common())
        + "):"
        f" compressed {packed / 1e9:.3f} GB ({packed / max(bodies, 1):.3f} of the bodies), "
        f"FerretDB's files {files / 1e9:.3f} GB (**{files / max(bodies, 1):.3f}** of the bodies)"
    )
    print(
        f"CPU to read each body back, check its SHA-256 and compress it {cpu:.1f} s "
        f"({cpu / max(bodies / 1e6, 1):.4f} s/MB); wall "
        f"{time.monotonic() - started:.0f} s; {checked:,} bodies read back byte for byte; "
        f"load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", default=ASSETS)
    parser.add_argument(
        "--from-lake",
        metavar="URI",
        help="measure this loaded lake (mongodb://host:port/database), re-stored as written today",
    )
    args = parser.parse_args()
    if args.from_lake:
        asyncio.run(recode(args.from_lake))
    else:
        asyncio.run(main([a.strip() for a in args.assets.split(",") if a.strip()]))
