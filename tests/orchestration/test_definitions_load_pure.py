"""Loading the Dagster definitions has no side effects: nothing started, written or run.

A child interpreter records, through Python's audit hooks, every process it would start,
file it would open for writing, directory it would create, environment variable it would
set and socket it would connect while it imports ``orchestration.definitions`` and while
Dagster's loader calls ``defs()``: with no manifest (a clear error naming the command that
prepares it) and with the prepared one (the whole ``Definitions``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ingestion.settings import PROJECT_ROOT
from orchestration.dbt_assets import DBT_PROJECT

CHILD = r"""
import json, os, sys

EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.fork",
          "os.spawn", "os.putenv", "os.unsetenv", "os.mkdir", "os.rename", "os.remove",
          "os.rmdir", "shutil.copyfile", "shutil.rmtree", "socket.connect")
seen = []

def hook(event, args):
    if event == "open":
        path, mode, flags = args
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        if writes and not str(path).startswith("/dev/"):
            seen.append(("open for writing", str(path)))
    elif event.startswith(EVENTS):
        seen.append((event, repr(args)[:200]))

# Third-party libraries first: what their own imports do (numpy toggles an OpenBLAS
# variable, platform probes the interpreter with `file`) is not criptopipe's doing.
import dagster, dagster_dbt, numpy, pandas, psycopg, pydantic_settings, platform
platform.architecture()

environ = dict(os.environ)
sys.addaudithook(hook)
report = {}

import orchestration.definitions as definitions
report["import"] = list(seen)
seen.clear()

from pathlib import Path
from dagster_dbt import DbtProject
import orchestration.dbt_assets as dbt_assets

real = dbt_assets.DBT_PROJECT
dbt_assets.DBT_PROJECT = DbtProject(
    project_dir=real.project_dir, profiles_dir=real.profiles_dir,
    target_path=Path("target") / "never-prepared",
)
try:
    definitions.defs()
    report["missing"] = "loaded"
except FileNotFoundError as err:
    report["missing"] = str(err)
report["missing_events"] = list(seen)
seen.clear()

dbt_assets.DBT_PROJECT = real
loaded = definitions.defs()
report["assets"] = len(list(loaded.resolve_asset_graph().get_all_asset_keys()))
report["load"] = list(seen)
report["environ_changed"] = sorted(
    k for k in set(environ) | set(os.environ) if environ.get(k) != os.environ.get(k))
print("REPORT " + json.dumps(report))
"""


def test_definitions_import_and_load_start_write_and_run_nothing(tmp_path: Path) -> None:
    # The explicit step: `criptopipe dbt parse` (dbt runs only if the project changed).
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_IS_DEV_CLI"}
    parse = subprocess.run(
        [str(Path(sys.executable).with_name("criptopipe")), "dbt", "parse"],
        cwd=PROJECT_ROOT,
        env={**env, "DAGSTER_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert parse.returncode == 0, parse.stdout + parse.stderr
    assert f"dbt manifest: {DBT_PROJECT.manifest_path}" in parse.stdout.replace("\n", "")
    assert DBT_PROJECT.manifest_path.exists()
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # the interpreter's own .pyc cache is not ours
    result = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("REPORT "))
    report = json.loads(line.removeprefix("REPORT "))
    assert report["import"] == []
    assert "criptopipe dbt parse" in report["missing"], report["missing"]
    assert report["missing_events"] == []
    assert report["assets"] > 50
    assert report["load"] == []
    assert report["environ_changed"] == []
