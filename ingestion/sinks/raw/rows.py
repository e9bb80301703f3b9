"""What the raw loader takes and what it reports: rows to load, rows to quarantine, counts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from itertools import repeat
from typing import Any, NamedTuple


class RawRow(NamedTuple):
    """One row to load: the natural key, the record's JSON text, its fetch and lake document.

    A named tuple, not a frozen dataclass: one is made per record, and a frozen dataclass
    takes about three times as long to build.
    """

    key: tuple[Any, ...]
    record_json: str
    fetched_at: datetime
    lake_document_id: str | None


# tuple.__new__ over the fields, in C (RawRow's own constructor is a Python function).
_NEW_ROW: Callable[[tuple[tuple[Any, ...], str, datetime, str | None]], RawRow] = partial(
    tuple.__new__, RawRow
)


def page_rows(
    keys: Iterable[tuple[Any, ...]],
    texts: Iterable[str],
    fetched_at: datetime,
    lake_document_id: str | None,
) -> list[RawRow]:
    """The rows of one page's records: their keys and JSON texts, the page's fetch and id."""
    return list(
        map(_NEW_ROW, zip(keys, texts, repeat(fetched_at), repeat(lake_document_id), strict=False))
    )


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    """One record (or a whole page) for ``raw.quarantine``, with the reason."""

    source: str
    endpoint: str
    reason: str
    record: Any | None  # None when the body was not JSON
    raw_text: str | None
    lake_document_id: str | None


@dataclass(slots=True)
class LoadCounts:
    """What one load did: exact counts, and where the database disagreed with them."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    problems: list[str] = field(default_factory=list)  # where the database disagrees

    def add(self, other: LoadCounts) -> None:
        """Add ``other``'s counts and problems to these."""
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.quarantined += other.quarantined
        self.problems.extend(other.problems)


class KnownEmpty(NamedTuple):
    """A period a provider has no record for (``raw.known_empty``)."""

    series: str  # the series key columns joined by a space, e.g. "BTC-USD 1h"
    period_start: datetime
    reason: str
