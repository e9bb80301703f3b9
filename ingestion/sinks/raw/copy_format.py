"""The COPY formats of the raw loader, and records as compact JSON text.

This is the loader's hot loop. Rows go by binary COPY (:func:`binary_copy`): the keys and
times go as PostgreSQL's own binary values, so neither side formats or parses a
timestamp, and the server takes a batch in about 0.6 of the CPU it spends on text. Rows
whose key values are not of the types binary COPY sends for their columns go as COPY text,
formatted by hand (:func:`copy_text`). JSON text is made by orjson, or by the C encoder
behind ``json`` where orjson cannot (see :func:`dumps`).
PostgreSQL's text and jsonb cannot hold NUL characters: :func:`jsonb_problem` finds them
in a record, :func:`strip_nul` replaces them in text kept for the record.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

import orjson

from ingestion.sinks.raw.rows import RawRow

COPY_CHUNK_ROWS = 10_000  # rows per write of COPY text
COPY_CHUNK_BYTES = 1 << 20  # bytes per write of a binary COPY
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
_JSONB_VERSION = b"\x01"  # jsonb's binary form: a version byte, then the JSON text
# PostgreSQL's binary COPY: a signature, flags and header extension (both 0), then per row
# its field count (int16) and each field as a length (int32; -1 for NULL) and its bytes;
# a field count of -1 ends it. Timestamps are microseconds since 2000-01-01 UTC (int64),
# dates days since then (int32), text and jsonb UTF-8 (jsonb after its version byte).
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_TRAILER = b"\xff\xff"
_NULL = b"\xff\xff\xff\xff"
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_PG_EPOCH_DAY = _PG_EPOCH.date()
_MICROSECOND = timedelta(microseconds=1)
_pack_count = struct.Struct("!h").pack
_pack_length = struct.Struct("!i").pack
_pack_timestamp = struct.Struct("!iq").pack  # its length (8), then the value
_pack_date = struct.Struct("!ii").pack  # its length (4), then the value
# A time field, then the length of the jsonb field that follows and its version byte (1).
_pack_time_record = struct.Struct("!iqic").pack


def _binary_field(value: object, wanted: type) -> bytes | None:
    """One field of a binary COPY row, ``value`` being a key of Python type ``wanted``.

    None when ``value`` is not of that type exactly (or a naive time): binary COPY does not
    send it as it is.
    """
    if type(value) is not wanted:
        return None
    if wanted is datetime:
        if value.tzinfo is None:  # type: ignore[attr-defined]
            return None
        return _pack_timestamp(8, (value - _PG_EPOCH) // _MICROSECOND)  # type: ignore[operator]
    if wanted is date:
        return _pack_date(4, (value - _PG_EPOCH_DAY).days)  # type: ignore[operator]
    data = value.encode("utf-8")  # type: ignore[attr-defined]
    return _pack_length(len(data)) + data


def binary_copy(
    rows: Sequence[RawRow], key_types: Sequence[str], run_id: str | None = None
) -> bytes | None:
    """``rows`` as a whole binary COPY (signature to trailer), or None where it does not fit.

    The columns are those of :func:`copy_text`: keys, record, fetched_at, lake id; with
    ``run_id``, keys, record, fetched_at, first_seen_at, last_seen_at, run_id, lake id.
    Each key value must be of its column's Python type exactly (text: ``str``;
    timestamptz: an aware ``datetime``; date: a ``date``, not a ``datetime``), and so must
    the fetch times (aware) and lake ids (``str`` or None); otherwise None, and the rows go
    as COPY text, which PostgreSQL parses and casts as it always did.

    Built here, not row by row through psycopg's ``write_row``, because it is the loader's
    hot loop: the fields a series or a page share (the symbol and interval, the fetch time,
    the run and lake ids) are encoded once, and a row adds only its time and its record.
    """
    wanted = [_KEY_TYPES.get(pg_type) for pg_type in key_types]
    if not rows or None in wanted:
        return None
    *head_types, last_type = wanted
    count = _pack_count(len(key_types) + (3 if run_id is None else 6))
    run = b"" if run_id is None else _binary_field(run_id, str)
    heads: dict[tuple[Any, ...], bytes] = {}
    tails: dict[tuple[Any, ...], bytes] = {}
    parts = [_SIGNATURE]
    add = parts.extend
    fast_times = last_type is datetime
    version = _JSONB_VERSION
    for key, record_json, fetched_at, lake_id in rows:
        series = key[:-1]
        head = heads.get(series)
        if head is None:
            fields = list(map(_binary_field, series, head_types))  # type: ignore[arg-type]
            if len(series) != len(head_types) or None in fields:
                return None
            head = heads[series] = count + b"".join(fields)  # type: ignore[arg-type]
        page = (fetched_at, lake_id)
        tail = tails.get(page)
        if tail is None:
            at = _binary_field(fetched_at, datetime)
            lake = _NULL if lake_id is None else _binary_field(lake_id, str)
            if at is None or lake is None or run is None:
                return None
            tail = tails[page] = at + (b"" if run_id is None else at + at + run) + lake
        last = key[-1]
        record = record_json.encode("utf-8")
        if fast_times and type(last) is datetime and last.tzinfo is not None:
            # the open time, the record's length and jsonb's version byte in one pack
            micros = (last - _PG_EPOCH) // _MICROSECOND
            add((head, _pack_time_record(8, micros, len(record) + 1, version), record, tail))
        else:
            field = _binary_field(last, last_type)  # type: ignore[arg-type]
            if field is None:
                return None
            add((head, field, _pack_length(len(record) + 1), version, record, tail))
    parts.append(_TRAILER)
    return b"".join(parts)


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
        texts = [orjson.dumps(record) for record in records]
    except TypeError:  # an integer past 64 bits, a type orjson does not know, too deep
        return None
    joined = b"".join(texts)
    if b"null" in joined or b"\\u0000" in joined:
        return None
    return [text.decode() for text in texts]


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
