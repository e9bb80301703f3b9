"""`criptopipe ui` starts the Dagster UI (webserver and daemon) without deprecation warnings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from netutil import free_port, wait_until_serving

from ingestion.settings import PROJECT_ROOT


@pytest.mark.slow
def test_criptopipe_ui_serves_without_deprecation_warnings(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "ui.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "criptopipe"), "ui", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env={**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home")},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_serving(f"http://127.0.0.1:{port}/server_info", process, log_path, 240)
            time.sleep(3)  # the daemon starts next to the webserver
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
    output = log_path.read_text()
    assert "Dagster UI: http://127.0.0.1:" in output
    for word in ("superseded", "Deprecat", "deprecat"):
        assert word not in output, output[-3000:]
