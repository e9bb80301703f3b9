"""The COPY formats of the raw loader, and records as compact JSON text.

This is the loader's hot loop. Rows go by binary COPY (:func:`write_binary`): psycopg's C
dumpers send the keys and times as PostgreSQL's own binary values, so neither side formats
or parses a timestamp, and the server takes a batch in about 0.6 of the CPU it spends on
text. Rows whose key values are not of the types binary COPY sends for their columns go
as COPY text, formatted by hand (:func:`copy_text`). JSON text is made by orjson, or by
the C encoder behind ``json`` where orjson cannot (see :func:`dumps`).
PostgreSQL's text and jsonb cannot hold NUL characters: :func:`jsonb_problem` finds them
in a record, :func:`strip_nul` replaces them in text kept for the record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date, datetime
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from operator import attrgetter, itemgetter
from typing import Any

import orjson
from psycopg import AsyncCopy

from ingestion.sinks.raw.rows import RawRow

COPY_CHUNK_ROWS = 10_000
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


_ESCAPED: dict[str, str] = {}  # symbols repeat on every row: escape each once


def _copy_value(value: object) -> str:
    """One value in COPY's text format (keys are text, timestamptz or date)."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        escaped = _ESCAPED.get(value)
        if escaped is None:
            escaped = value.translate(_COPY_ESCAPES)
            if len(_ESCAPED) < 10_000:
                _ESCAPED[value] = escaped
        return escaped
    if isinstance(value, date):  # datetime is a date too
        return value.isoformat()
    return str(value).translate(_COPY_ESCAPES)


def copy_text(rows: Sequence[RawRow], first: int, count: int, run_id: str | None = None) -> str:
    """Rows ``first`` .. ``first + count`` as COPY text.

    The columns are keys, record, fetched_at, lake id; with ``run_id``, the rows of the raw
    table itself: keys, record, fetched_at, first_seen_at and last_seen_at (all the fetch
    time), run_id, lake id.

    Built by hand because it is the loader's hot loop: JSON text needs only its backslashes
    doubled (json.dumps escapes every control character), and the per-page columns are
    formatted once per page, and so are the key columns before the last (the series:
    symbol, interval), which repeat on every row of a series.
    """
    lines: list[str] = []
    suffix, page = "", None
    series: dict[tuple[Any, ...], str] = {}
    run = "" if run_id is None else _copy_value(run_id)
    for index in range(first, min(first + count, len(rows))):
        row = rows[index]
        if (row.fetched_at, row.lake_document_id) != page:
            page = (row.fetched_at, row.lake_document_id)
            at = row.fetched_at.isoformat()
            seen = "" if run_id is None else f"\t{at}\t{at}\t{run}"
            suffix = f"\t{at}{seen}\t{_copy_value(row.lake_document_id)}\n"
        key = row.key
        head = series.get(key[:-1])
        if head is None:
            head = series[key[:-1]] = "".join([_copy_value(v) + "\t" for v in key[:-1]])
        lines.append(
            f"{head}{_copy_value(key[-1])}\t{row.record_json.replace(chr(92), chr(92) * 2)}{suffix}"
        )
    return "".join(lines)


# The Python type binary COPY sends for a key column of each PostgreSQL type.
_KEY_TYPES: dict[str, type] = {"text": str, "timestamptz": datetime, "date": date}
_TZINFO = attrgetter("tzinfo")
_JSONB_VERSION = "\x01"  # jsonb's binary form: a version byte, then the JSON text


def fits_binary(rows: Sequence[RawRow], key_types: Sequence[str]) -> bool:
    """Whether binary COPY can send ``rows`` for key columns of ``key_types`` as they are.

    Each key value must be of its column's Python type exactly (text: ``str``; timestamptz:
    an aware ``datetime``; date: a ``date``, not a ``datetime``), and so must the fetch
    times and lake ids. Anything else goes as COPY text, which PostgreSQL parses and
    casts as it always did.
    """
    if not rows:
        return False
    # One C-level pass per check (map, set): this runs over every row of every batch.
    keys = list(map(itemgetter(0), rows))
    if set(map(len, keys)) != {len(key_types)}:
        return False
    for index, pg_type in enumerate(key_types):
        wanted = _KEY_TYPES.get(pg_type)
        column = list(map(itemgetter(index), keys))
        if wanted is None or set(map(type, column)) != {wanted}:
            return False
        if wanted is datetime and None in set(map(_TZINFO, column)):
            return False
    fetched = list(map(itemgetter(2), rows))
    if set(map(type, fetched)) != {datetime} or None in set(map(_TZINFO, fetched)):
        return False
    return set(map(type, map(itemgetter(3), rows))) <= {str, type(None)}


def binary_types(key_types: Sequence[str], run_id: str | None = None) -> list[str]:
    """The column types of :func:`write_binary`'s rows, for ``AsyncCopy.set_types``.

    The record goes through the text dumper (C, where ``bytea``'s is Python): its value,
    a version byte and the JSON text, is jsonb's binary form as UTF-8.
    """
    seen = [] if run_id is None else ["timestamptz", "timestamptz", "text"]
    return [*key_types, "text", "timestamptz", *seen, "text"]


async def write_binary(copy: AsyncCopy, rows: Sequence[RawRow], run_id: str | None = None) -> None:
    """Write ``rows`` to a binary COPY whose types :func:`binary_types` set.

    The columns are those of :func:`copy_text`: keys, record, fetched_at, lake id; with
    ``run_id``, keys, record, fetched_at, first_seen_at, last_seen_at, run_id, lake id.
    """
    # The formatter's write_row (C) in a plain loop, and a write of each full buffer it
    # hands back: what AsyncCopy.write_row does, without a coroutine per row.
    write_row = copy.formatter.write_row
    version = _JSONB_VERSION
    if run_id is None:
        for row in rows:
            if data := write_row(
                (*row.key, version + row.record_json, row.fetched_at, row.lake_document_id)
            ):
                await copy.write(data)
        return
    for row in rows:
        at = row.fetched_at
        if data := write_row(
            (*row.key, version + row.record_json, at, at, at, run_id, row.lake_document_id)
        ):
            await copy.write(data)


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# \u0000 in JSON text that is an escape, not an escaped backslash followed by "u0000".
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


# The C encoder behind _ENCODER, made once (JSONEncoder.encode makes one on every call).
_C_ENCODE = (
    None
    if c_make_encoder is None
    else c_make_encoder(
        None, _ENCODER.default, encode_basestring, None, ":", ",", False, False, False
    )
)


def dumps(record: object) -> str:
    """Compact JSON text of a record (NaN and Infinity refused: jsonb cannot hold them).

    orjson first (several times faster); it writes NaN and Infinity as ``null`` and
    refuses integers past 64 bits, so text holding a ``null`` (rare in records), and any
    record orjson refuses, goes through the standard library's encoder instead.
    """
    try:
        text = orjson.dumps(record)
    except TypeError:  # an integer past 64 bits, a type orjson does not know
        pass
    else:
        if b"null" not in text:
            return text.decode()
    if _C_ENCODE is None or isinstance(record, str | int | float):
        return _ENCODER.encode(record)
    return "".join(_C_ENCODE(record, 0))


def dumps_all(records: Sequence[object]) -> list[str] | None:
    r""":func:`dumps` of every record, when orjson writes them all as :func:`dumps` would.

    One pass with orjson and one check over all the texts: no ``null`` (orjson writes NaN
    and Infinity so) and no ``\u0000`` (see :func:`jsonb_problem`) anywhere. None when a
    record needs more care: the caller then goes record by record.
    """
    try:
        texts = list(map(orjson.dumps, records))
    except TypeError:  # an integer past 64 bits, a type orjson does not know, too deep
        return None
    joined = b"".join(texts)
    if b"null" in joined or b"\\u0000" in joined:
        return None
    return list(map(bytes.decode, texts))


def jsonb_problem(record_json: str) -> str | None:
    """Why jsonb would refuse this JSON text (a NUL character in a string), or None.

    The loader finds any other value PostgreSQL refuses by itself (see ``RawLoader``);
    this is the common case, caught early with a clear reason.
    """
    if "\\u0000" in record_json and _NUL_ESCAPE.search(record_json):
        return "a string holds a NUL character (\\u0000), which jsonb cannot store"
    return None


def safe_dumps(record: object) -> str | None:
    """:func:`dumps` of ``record`` with NUL characters replaced; None if it is not JSON."""
    try:
        return strip_nul(dumps(record))
    except (TypeError, ValueError, RecursionError):
        return None


def strip_nul(text: str | None) -> str | None:
    r"""``text`` with its NUL characters (raw or ``\u0000``) replaced by U+FFFD.

    PostgreSQL text and jsonb cannot hold NUL characters.
    """
    return None if text is None else text.replace("\x00", "\ufffd").replace("\\u0000", "\\ufffd")
