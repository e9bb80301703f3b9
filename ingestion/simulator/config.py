"""Simulator configuration and fault plans.

A :class:`FaultPlan` is a tuple of :class:`FaultRule`. A rule hits a request either by
script (``first_n`` requests to its source, after skipping ``skip``) or by chance
(``probability``, drawn from a generator seeded by (plan seed, source, request number), so
the same plan and the same request sequence give the same faults). The first rule that hits
wins. Request numbers count per source from the moment the plan is installed.

Plans can be written as JSON (``FaultPlan.from_dict`` / ``to_dict``) or in a compact text
form for the command line, rules separated by ``;``::

    binance:rate_limit:first=2 ; kraken:server_error:p=0.1 ; *:latency:p=0.5,delay=0.2
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from ingestion.settings import SOURCES
from ingestion.simulator.market import NO_TRADE_RATE
from ingestion.simulator.universe import CATALOGUE

FAULT_KINDS = (
    "latency",  # answer normally after `delay` seconds
    "rate_limit",  # the source's own rate-limit answer (429 + retry-after; Kraken: 200 EAPI)
    "ban",  # Binance 418 IP ban with retry-after (other sources: their 429)
    "server_error",  # HTTP `status` (default 503) with the source's error body
    "api_error",  # Kraken: HTTP 200 {"error":["EService:Unavailable"]}; others: 500 JSON
    "html",  # Cloudflare-style HTML error page (HTTP `status`, default 520)
    "timeout",  # hang for `delay` seconds (default 30, longer than any client timeout)
    "disconnect",  # close the connection without answering
    "truncated",  # 200 with the JSON body cut in half (valid Content-Length)
    "empty",  # 200 with every record list emptied
    "nulls",  # 200 with optional fields set to null
    "drift_extra",  # 200 with an extra field in every record
    "drift_reorder",  # 200 with the keys of every object in reverse order
)
BODY_FAULTS = frozenset({"truncated", "empty", "nulls", "drift_extra", "drift_reorder"})


@dataclass(frozen=True, slots=True)
class FaultRule:
    """One kind of fault for one source (or ``"*"`` for all)."""

    kind: str
    source: str = "*"
    probability: float = 0.0
    first_n: int = 0
    skip: int = 0
    endpoint: str | None = None  # only requests whose endpoint name contains this text
    delay: float | None = None  # seconds, for latency and timeout
    status: int | None = None  # HTTP status, for server_error and html
    retry_after: int | None = None  # seconds, for rate_limit and ban
    retry_after_date: int = 0  # 1: send Retry-After as an HTTP date, not seconds

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(FAULT_KINDS)}")
        if self.source != "*" and self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}; known: {', '.join(SOURCES)}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")

    def hits(self, source: str, endpoint: str, n: int, rng: random.Random) -> bool:
        """Whether this rule fires on the ``n``-th (0-based) request to ``source``'s ``endpoint``.

        The first ``first_n`` requests after ``skip`` always fire; later ones fire with
        ``probability``, drawn from ``rng``.
        """
        if self.source not in ("*", source):
            return False
        if self.endpoint is not None and self.endpoint not in endpoint:
            return False
        if self.first_n and self.skip <= n < self.skip + self.first_n:
            return True
        return self.probability > 0.0 and rng.random() < self.probability


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Which faults to inject; the default plan injects none."""

    rules: tuple[FaultRule, ...] = ()
    seed: int = 0

    def pick(self, source: str, endpoint: str, n: int) -> FaultRule | None:
        """The fault for the ``n``-th (0-based) request to ``source``, or None."""
        if not self.rules:
            return None
        rng = random.Random(f"{self.seed}:{source}:{n}")
        for rule in self.rules:
            if rule.hits(source, endpoint, n, rng):
                return rule
        return None

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data, each rule without its unset fields (but ``kind``)."""
        return {
            "seed": self.seed,
            "rules": [
                {k: v for k, v in asdict(rule).items() if v not in (None, 0, 0.0) or k == "kind"}
                for rule in self.rules
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | list[Any]) -> FaultPlan:
        """A plan from :meth:`to_dict`'s shape, or from a bare list of rules."""
        if isinstance(data, list):
            data = {"rules": data}
        rules = tuple(FaultRule(**rule) for rule in data.get("rules", ()))
        return cls(rules=rules, seed=int(data.get("seed", 0)))

    @classmethod
    def parse(cls, text: str | None) -> FaultPlan:
        """A plan from JSON or from the compact ``source:kind:opt=v,...;...`` form."""
        if not text or not text.strip():
            return cls()
        text = text.strip()
        if text[0] in "[{":
            return cls.from_dict(json.loads(text))
        names = {"p": "probability", "first": "first_n", "n": "first_n"}
        floats = {"probability", "delay"}
        rules = []
        seed = 0
        for chunk in filter(None, (c.strip() for c in text.split(";"))):
            if chunk.startswith("seed="):
                seed = int(chunk[5:])
                continue
            source, _, rest = chunk.partition(":")
            kind, _, opts = rest.partition(":")
            kwargs: dict[str, Any] = {}
            for opt in filter(None, (o.strip() for o in opts.split(","))):
                key, _, value = opt.partition("=")
                key = names.get(key, key)
                kwargs[key] = (
                    float(value) if key in floats else (value if key == "endpoint" else int(value))
                )
            rules.append(FaultRule(kind=kind.strip(), source=source.strip(), **kwargs))
        return cls(rules=tuple(rules), seed=seed)


NO_FAULTS = FaultPlan()


@dataclass(frozen=True, slots=True)
class PriceDivergence:
    """One source's prices off the market by ``bps`` basis points over [start, end).

    Hits an exchange's minute and hour candles whose open time lies in the window (closed
    and open candles alike, every price of the candle), and the coarser candles through
    them (a day's high is the diverged hours' high, as the exchange's own daily candle
    would be), or CoinGecko's market_chart points whose time lies in it
    (``source="coingecko"``); ``asset`` narrows it to one asset id. Used to
    test the reconciliation of sources and that open candles stay out of the analytics.
    """

    source: str
    start: datetime
    end: datetime
    bps: float
    asset: str = "*"

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}; known: {', '.join(SOURCES)}")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("divergence start and end must be timezone-aware (UTC)")
        if self.end <= self.start:
            raise ValueError("divergence end must come after its start")

    def applies(self, source: str, asset_id: str) -> bool:
        """Whether the divergence hits ``asset_id``'s prices on ``source``."""
        return self.source == source and self.asset in ("*", asset_id)


def divergence_factors(
    divergences: tuple[PriceDivergence, ...], source: str, asset_id: str, times_s: Any
) -> Any:
    """Price multipliers for epoch seconds ``times_s`` (a numpy array), or None if none hit."""
    import numpy as np

    hits = [d for d in divergences if d.applies(source, asset_id)]
    if not hits:
        return None
    times = np.asarray(times_s)
    factors = np.ones(times.shape, dtype=np.float64)
    for divergence in hits:
        inside = (times >= divergence.start.timestamp()) & (times < divergence.end.timestamp())
        factors = np.where(inside, factors * (1.0 + divergence.bps / 10_000.0), factors)
    return factors if (factors != 1.0).any() else None


def _default_assets() -> tuple[str, ...]:
    return tuple(asset.asset_id for asset in CATALOGUE)


@dataclass(slots=True)
class SimulatorConfig:
    """Everything that shapes what the simulator answers."""

    seed: int = 42
    assets: tuple[str, ...] = field(default_factory=_default_assets)
    history_start: datetime = datetime(2022, 1, 1, tzinfo=UTC)
    now: datetime | None = None  # the simulated clock; None follows real UTC time
    faults: FaultPlan = NO_FAULTS
    # Prices of a source pushed off the market over a window (reconciliation tests).
    divergences: tuple[PriceDivergence, ...] = ()
    # Requests per minute (wall clock) before the source's real rate-limit answer;
    # None = unlimited. E.g. {"coingecko": 30}. Binance counts request weight (limit 6000).
    rate_limits: dict[str, int] = field(default_factory=dict)
    record_requests: int = 50_000  # request log entries kept (oldest dropped)
    # Keep each fault-free 200 reply and serve the same bytes again when the same request
    # comes at the same simulated time (benchmarks: the pages are rendered before the timed
    # window, as a remote API's are on another machine). Off by default.
    cache_replies: bool = False
    # Coinbase sends no candle for an interval without trades: the chance that a minute of
    # average activity of its thinnest product (LTC-USD, LINK-USD) had none. A product n
    # times that market cap trades n times as often (chance rate ** n: BTC-USD and ETH-USD
    # miss none, as the real BTC-USD minutes don't); quiet hours miss more. Only minutes go
    # missing (an hour always trades); 5m and 15m candles are built from the minutes that
    # traded, one with none is left out too. 0 turns the gaps off.
    coinbase_no_trade_rate: float = NO_TRADE_RATE

    def __post_init__(self) -> None:
        if not 0.0 <= self.coinbase_no_trade_rate < 1.0:
            raise ValueError("coinbase_no_trade_rate must be within [0, 1)")
