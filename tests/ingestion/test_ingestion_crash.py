"""A run killed with SIGKILL mid-load, then rerun, ends with exactly the simulator's data.

Both the simulator and the ingestion run are separate processes here, as in production:
the kill leaves whatever the killed process had committed, and nothing else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from typing import Any

import psycopg
from ingestion_support import SIM_NOW, admin, simulator_env

from ingestion.settings import PROJECT_ROOT, Settings

DAYS = 120  # enough pages for several waves of requests per source
TABLES = {  # raw table -> (simulator endpoint, how the simulator keys a record)
    "binance__klines": ("binance", "/api/v3/klines"),
    "coinbase__candles": ("coinbase", "/products/{id}/candles"),
    "mercadobitcoin__candles": ("mercadobitcoin", "/candles"),
}
RUN = """
import asyncio, sys
from datetime import datetime
from ingestion.run.ingest import run_ingestion
from ingestion.settings import load_settings
summary = asyncio.run(run_ingestion(
    load_settings(), sources=["binance", "coinbase", "mercadobitcoin"],
    endpoints=["klines", "candles"], now=datetime.fromisoformat(sys.argv[1])))
sys.exit(0 if summary.ok else 1)
"""


def _loaded(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        total = 0
        for table in TABLES:
            exists = conn.execute("select to_regclass(%s)", [f"raw.{table}"]).fetchone()
            if exists and exists[0]:
                row = conn.execute(f"select count(*) from raw.{table}").fetchone()
                total += int(row[0]) if row else 0
        return total


def _raw_keys(dsn: str, table: str) -> dict[tuple[Any, ...], Any]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(f"select * from raw.{table}").fetchall()
        names = [
            c.name for c in conn.execute(f"select * from raw.{table} limit 0").description or []
        ]
    result = {}
    for row in rows:
        item = dict(zip(names, row, strict=True))
        symbol = item.get("symbol") or item.get("product_id")
        opened: datetime = item["open_time"]
        if table == "binance__klines":
            key: tuple[Any, ...] = (symbol, item["interval"], int(opened.timestamp() * 1000))
        elif table == "coinbase__candles":
            key = (symbol, {"1h": 3600, "1d": 86400}[item["interval"]], int(opened.timestamp()))
        else:
            key = (symbol, item["interval"], int(opened.timestamp()))
        result[key] = item["record"]
    return result


def test_a_run_killed_mid_load_then_rerun_matches_the_ground_truth(
    settings: Settings,
    simulator_process: str,
    clean_stores: None,
    loader_dsn: str,
) -> None:
    root = simulator_process
    env = simulator_env(
        settings,
        root,
        CRIPTOPIPE_START_DATE=(SIM_NOW - timedelta(days=DAYS)).date().isoformat(),
        # Every candle page through the parse process (a forked worker): killed with the
        # run, it must not keep the run's sessions (and endpoint locks) open.
        CRIPTOPIPE_PARSE_PROCESS="true",
        CRIPTOPIPE_PARSE_PROCESS_MIN_PAGES="0",
    )
    # Slow every answer so pages arrive in waves (8 requests at a time per source): the
    # kill lands after the first wave is committed, while later waves are still coming.
    admin(root, "/_admin/faults", {"spec": "*:latency:p=1,delay=0.5"})
    command = [sys.executable, "-c", RUN, SIM_NOW.isoformat()]
    victim = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while _loaded(loader_dsn) == 0 and victim.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(victim.pid, signal.SIGKILL)
    finally:
        victim.wait()
    assert victim.returncode == -signal.SIGKILL
    loaded_at_kill = _loaded(loader_dsn)
    assert loaded_at_kill > 0

    admin(root, "/_admin/faults", {"spec": ""})
    rerun = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert _loaded(loader_dsn) > loaded_at_kill

    for table, (source, endpoint) in TABLES.items():
        truth = admin(root, f"/_admin/ground_truth?source={source}&endpoint={endpoint}")
        expected = {tuple(item["key"]): item["record"] for item in truth["records"]}
        loaded = _raw_keys(loader_dsn, table)
        assert set(loaded) == set(expected), table  # nothing missing, nothing extra
        assert loaded == expected, table  # and every record is the newest one served
        hours = len({k for k in loaded if k[0] in ("BTCUSDT", "BTC-USD", "BTC-BRL")})
        assert hours == DAYS * 24 + 13, table  # 00:00 of the start day .. the open 12:00 candle
