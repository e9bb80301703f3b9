"""A toy API added the way CONTRIBUTING.md says, run by ``test_add_an_api`` in a fresh
interpreter: a connector module and a simulator handler module (built here), and their
registry lines (appended here, before anything reads the registries). Nothing else
changes, yet the settings, the HTTP client, the raw table contract, the generated
``.env.example`` and Dagster run-queue blocks and the simulator all know the toy source.
Prints ``ok``."""

from __future__ import annotations

import asyncio
import re
import sys
import types
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import SecretStr

# --- 1. the connector module -----------------------------------------------------------
from ingestion.connectors.base import (
    EndpointSpec,
    ParseResult,
    PlanContext,
    PlannedRequest,
    Record,
    check_numeric,
    require_text,
    utc_from_seconds,
)
from ingestion.connectors.source import ApiKey, BodyErrors, Source
from ingestion.connectors.tables import key


def plan_prices(ctx: PlanContext) -> list[PlannedRequest]:
    return [PlannedRequest("/prices", {})]


def parse_prices(path: str, params: Mapping[str, str], body: Any, at: datetime) -> ParseResult:
    result = ParseResult()

    def build(item: Any) -> Record:
        check_numeric("price", item.get("price"))
        return Record((require_text("id", item.get("id")), utc_from_seconds(item.get("t"))), item)

    for item in body["prices"]:
        result.add(item, build, item)
    return result


toy = types.ModuleType("ingestion.connectors.toy")
toy.SOURCE = "toy"  # type: ignore[attr-defined]
toy.DESCRIPTION = Source(  # type: ignore[attr-defined]
    name="toy",
    title="Toy",
    base_url="https://api.toy.example/v1",
    rate_limit=30,
    api_key=ApiKey(
        header="x-toy-api-key", description="Toy key (header x-toy-api-key).", rate_limit=90
    ),
    body_errors=BodyErrors(read=lambda body: list(body.get("errors") or []), transient=("BUSY",)),
)
toy.ENDPOINTS = (  # type: ignore[attr-defined]
    EndpointSpec(
        "toy",
        "prices",
        "Toy prices.",
        is_time_windowed=False,
        cadence="*/15 * * * *",
        plan=plan_prices,
        parse=parse_prices,
        keys=(key("id"), key("observed_at", "timestamptz")),
        record_shape="one element of /prices, as sent",
    ),
)
sys.modules[toy.__name__] = toy

# --- 3. its registry line ----------------------------------------------------------------
import ingestion.connectors.registry as registry  # noqa: E402

registry.CONNECTORS = (*registry.CONNECTORS, toy)
registry.DESCRIPTIONS = registry._descriptions()
registry.REGISTRY = (*registry.REGISTRY, *toy.ENDPOINTS)
registry._BY_NAME = {(s.source, s.endpoint): s for s in registry.REGISTRY}

# --- 2. the simulator handler module, and its registry line ---------------------------------
from ingestion.simulator.common import Reply, SimRequest, SimSource, snapshot  # noqa: E402
from ingestion.simulator.sources import SOURCES as SIMULATED  # noqa: E402

CALLS = {"n": 0}


def prices(req: SimRequest) -> Reply:
    CALLS["n"] += 1
    if CALLS["n"] == 1:  # the API's own way of saying "try again", inside a 200
        return Reply(200, b'{"errors": ["BUSY: try again"], "prices": []}', "/prices")
    body = {"errors": [], "prices": [{"id": "toy-1", "t": req.now_s, "price": "1.5"}]}
    return snapshot(req, "/prices", body, lambda obj: [((p["id"],), p) for p in obj["prices"]])


SIMULATED["toy"] = SimSource(
    name="toy", prefix="/toy/v1", routes=((re.compile("/prices"), prices),)
)

# --- what reads the description ------------------------------------------------------------
from ingestion.generate import providers_block, sources_block  # noqa: E402
from ingestion.http import HttpClient  # noqa: E402
from ingestion.raw_tables import get_table  # noqa: E402
from ingestion.settings import SOURCES, Settings  # noqa: E402
from ingestion.simulator import run_simulator  # noqa: E402


async def main() -> None:
    assert "toy" in SOURCES
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert defaults.base_url("toy") == "https://api.toy.example/v1"
    assert get_table("toy", "prices").key_names == ("id", "observed_at")
    block = sources_block()
    assert "# CRIPTOPIPE_TOY_BASE_URL=https://api.toy.example/v1" in block
    assert "# CRIPTOPIPE_TOY_API_KEY=" in block
    assert "- key: criptopipe.provider/toy" in providers_block()
    async with run_simulator() as sim:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            toy_base_url=sim.base_urls["toy"],
            toy_api_key=SecretStr("toy-secret"),
            http_backoff_base_seconds=0.01,
        )
        async with HttpClient(settings) as http:
            response = await http.get_json("toy", "prices", "/prices")
            assert http.counter("toy", "prices").retries == 1  # the error in the 200 body
            assert http._rate("toy") == 90  # the keyed rate
        parsed = toy.ENDPOINTS[0].parse("/prices", {}, response.data, response.fetched_at)
        assert [r.key[0] for r in parsed.records] == ["toy-1"]
        assert all(entry["key_sent"] for entry in sim.state.request_log("toy"))
    print("ok")


asyncio.run(main())
