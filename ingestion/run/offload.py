"""Candle pages parsed in a second process, while the run's own process fetches and loads.

On two cores the run's process is the critical path: it fetches, parses, checks, writes
JSON texts and COPY rows, and waits on PostgreSQL and the lake. :class:`PageParser`
hands a candle page's body to one worker process (forked, so it starts at once with
every module loaded) that parses it with the same parser, checks it and writes its
records as JSON texts (:func:`~ingestion.run.pages.prepare_page`); the run's process
gets back only the keys and texts. A page that needs more care (a refused record, a
record from the future, a number orjson reads inexactly), any worker failure, or a
platform other than Linux means the page is read in the run's process as before, so the
outcome is the same either way. The worker closes its copies of the run's sockets and
dies with the run's process. Only endpoints whose run plans at least
``parse_process_min_pages`` pages use it (``CRIPTOPIPE_PARSE_PROCESS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import stat
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime

import orjson

from ingestion.connectors.base import EndpointSpec, ParseResult, PlannedRequest
from ingestion.connectors.registry import get_endpoint
from ingestion.http import Response, has_long_number
from ingestion.run.pages import Page, PreparedPage, prepare_page, read_page
from ingestion.settings import Settings

logger = logging.getLogger(__name__)

Prepared = tuple[PreparedPage, datetime | None, datetime | None]


def _start_worker(parent: int) -> None:
    """In the new worker: let go of the run's sockets, and die with the run's process.

    A forked worker holds a copy of every socket the run had open (its PostgreSQL
    connections among them): were it to keep them, a run killed with SIGKILL would leave
    its sessions (and the endpoint locks they hold) open for as long as the worker lived.
    Closing this copy sends nothing: the run's own stays as it was.
    """
    with contextlib.suppress(OSError, AttributeError):
        # PR_SET_PDEATHSIG: SIGKILL when the run's process (its forking thread) ends
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    if os.getppid() != parent:  # it ended already
        os._exit(0)
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError, ValueError):
            if stat.S_ISSOCK(os.fstat(int(name)).st_mode):
                os.close(int(name))


def _prepare(
    source: str, endpoint: str, request: PlannedRequest, raw: bytes, fetched_at: datetime
) -> Prepared | None:
    """In the worker: the body decoded as the client does (orjson only) and prepared."""
    if has_long_number(raw):
        return None  # the standard library reads it: in the run's process
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return prepare_page(get_endpoint(source, endpoint), request, body, fetched_at)


class PageParser:
    """The run's parse process: started on first use, stopped by :meth:`close`."""

    def __init__(self, settings: Settings) -> None:
        """A parser that offloads only if ``settings.parse_process`` and the platform allow."""
        self.min_pages = settings.parse_process_min_pages
        self.enabled = (
            settings.parse_process
            and (os.cpu_count() or 1) >= 2
            and sys.platform == "linux"  # fork, /proc and the parent-death signal
        )
        self._pool: ProcessPoolExecutor | None = None
        self.prepared = 0  # pages the parse process prepared
        self.declined = 0  # pages it handed back to be read in the run's process

    def wanted(self, spec: EndpointSpec, pages: int) -> bool:
        """Whether ``spec``'s pages go to the parse process, for a run of ``pages`` pages."""
        return self.enabled and spec.ohlc and pages >= self.min_pages

    async def read(
        self, spec: EndpointSpec, request: PlannedRequest, response: Response, document_id: str
    ) -> Page:
        """:func:`~ingestion.run.pages.read_page`, the work done in the parse process."""
        if not self.enabled or response.raw is None:
            return read_page(spec, request, response, document_id)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_start_worker,
                initargs=(os.getpid(),),
            )
        loop = asyncio.get_running_loop()
        try:
            prepared = await loop.run_in_executor(
                self._pool,
                _prepare,
                spec.source,
                spec.endpoint,
                request,
                response.raw,
                response.fetched_at,
            )
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a dead worker, a request that does not pickle
            logger.warning(
                "parse process failed (%s: %s); pages are parsed in the run's process",
                type(err).__name__,
                err,
            )
            self.close()
            self.enabled = False
            prepared = None
        if prepared is None:
            self.declined += 1
            return read_page(spec, request, response, document_id)
        self.prepared += 1
        page, first, last = prepared
        return Page(request, response, ParseResult(), document_id, None, None, first, last, page)

    def close(self) -> None:
        """Stop the worker (pages not yet parsed are cancelled)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
            logger.info(
                "parse process: %d pages prepared there, %d handed back to the run's process",
                self.prepared,
                self.declined,
            )
