"""The shape of one raw table: its natural-key columns and what a ``record`` holds.

Each endpoint declares its table in its connector module (``keys=…, record_shape=…`` on
its :class:`~ingestion.connectors.base.EndpointSpec`); :mod:`ingestion.raw_tables` is the
contract read from them. A leaf module: it imports nothing from the package.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KeyColumn:
    """A natural-key column: its name and PostgreSQL type."""

    name: str
    pg_type: str  # text | timestamptz | date


@dataclass(frozen=True, slots=True)
class RawTable:
    """One ``raw.<source>__<endpoint>`` table: natural keys, then the bookkeeping columns."""

    source: str
    endpoint: str
    keys: tuple[KeyColumn, ...]
    record_shape: str  # what one ``record`` holds, for humans and dbt authors
    loaded_at_field: str = "fetched_at"
    # OHLC candles: dbt's incremental candle marts select the rows seen since their last
    # build (``last_seen_at > …``), so these tables carry an index on ``last_seen_at``.
    ohlc: bool = False

    @property
    def name(self) -> str:
        """``<source>__<endpoint>``."""
        return f"{self.source}__{self.endpoint}"

    @property
    def qualified_name(self) -> str:
        """``raw.<source>__<endpoint>``."""
        return f"raw.{self.name}"

    @property
    def asset_key(self) -> tuple[str, str, str]:
        """The Dagster asset key ``raw/<source>/<endpoint>``."""
        return ("raw", self.source, self.endpoint)

    @property
    def key_names(self) -> tuple[str, ...]:
        """The natural-key column names, in key order."""
        return tuple(k.name for k in self.keys)


def key(name: str, pg_type: str = "text") -> KeyColumn:
    """A natural-key column of a raw table.

    Args:
        name: The column name.
        pg_type: Its PostgreSQL type: ``text`` (the default), ``timestamptz`` or ``date``.

    Returns:
        The column.
    """
    return KeyColumn(name, pg_type)
