"""`criptopipe ui` starts the Dagster UI (webserver and daemon) without deprecation warnings.

`dagster dev` printed "SupersessionWarning: `dev_command` is superseded … Use 'dg dev'" the
moment it started; `criptopipe ui` now runs `dg dev`. The test waits until Dagster launches
its services and their processes are up (the webserver serving the graph is
test_orchestration_ui.py's), then stops it with Ctrl-C and reads everything it printed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from netutil import free_port

from ingestion.settings import PROJECT_ROOT

LAUNCHED = "Launching Dagster services"


def test_criptopipe_ui_starts_without_deprecation_warnings(tmp_path: Path) -> None:
    log_path = tmp_path / "ui.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "criptopipe"), "ui", "--port", str(free_port())],
            cwd=PROJECT_ROOT,
            env={**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home")},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while LAUNCHED not in log_path.read_text():
                assert process.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.5)
            time.sleep(8)  # the webserver and daemon processes start and print their banners
            assert process.poll() is None, log_path.read_text()[-3000:]
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
    output = log_path.read_text()
    assert "Dagster UI: http://127.0.0.1:" in output
    for word in ("superseded", "Supersession", "Deprecat", "deprecat"):
        assert word not in output, output[-3000:]
