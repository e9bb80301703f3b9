"""CONTRIBUTING.md's "Add an API" checklist, enforced.

Every registered source has the five things the checklist names (a connector module, a
simulator handler module, its registry lines, real fixtures, a dbt staging folder), and no
other production file names a source: the settings, the HTTP client, the raw table
contract and the simulator's router read the connector modules' descriptions, and
``.env.example``'s sources block and dbt's ``raw_endpoints()`` are generated from them and
the staging folders (``python -m ingestion.generate``). The few files that still name sources
are listed below, each with the reason; a new one fails this test.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import yaml

from ingestion.connectors.registry import CONNECTORS, DESCRIPTIONS, REGISTRY
from ingestion.settings import PROJECT_ROOT
from ingestion.simulator.sources import SOURCES as SIMULATED

STAGING = PROJECT_ROOT / "dbt_project" / "models" / "staging"

# Files outside the five places that may name a source, and why: a generated list, and what
# an *exchange* still needs (CONTRIBUTING.md says so). The registry lines (step 3) import
# the modules by name.
NAMES_SOURCES: dict[str, str] = {
    "dbt_project/macros/raw_endpoints.sql": "generated from the staging folders (see below)",
    "ingestion/simulator/market.py": "exchange: its synthetic-market parameters (EXCHANGE_MODELS)",
    "ingestion/simulator/ecb.py": 'not the source: the FX random stream is named "fx"',
    "ingestion/simulator/universe.py": "exchange: the simulated world's pairs on each exchange",
    "dashboard/charts/style.py": "exchange: its colour in the charts",
    "ingestion/asset_symbols.py": "CoinGecko's coin list and ranks resolve tickers to coin ids",
    "dbt_project/models/intermediate/int_candles_unioned.sql": "exchange: joins the candle union",
    "dbt_project/macros/brazil_premium.sql": "the Brazil premium is Mercado Bitcoin's BRL market",
}


def _python_names(path: Path, sources: set[str]) -> set[str]:
    """Sources a Python file names in code: a string literal equal to a source id
    (``source == "kraken"``, ``{"binance": …}``); prose in docstrings and comments, and
    variables that happen to share a name (``fear_greed = …``), do not count."""
    found: set[str] = set()
    for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if token.type == tokenize.STRING:
            try:
                value = ast.literal_eval(token.string)
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, str) and value in sources:
                found.add(value)
    return found


def _text_names(path: Path, sources: set[str]) -> set[str]:
    """Sources a dbt file names: in SQL a quoted id or a staging model (``'kraken'``,
    ``ref('stg_kraken__ohlc_candles')``), in a seed any cell."""
    text = path.read_text()
    if path.suffix == ".csv":
        return {s for s in sources if re.search(rf"(?<![\w.]){re.escape(s)}(?!\w)", text)}
    return {s for s in sources if re.search(rf"'(stg_)?{re.escape(s)}(__\w+)?'", text)}


def _names(path: Path, sources: set[str]) -> set[str]:
    return _python_names(path, sources) if path.suffix == ".py" else _text_names(path, sources)


def _production_files() -> list[Path]:
    """The code a new API could have to edit: the Python packages, dbt's macros and seeds.

    dbt models outside staging are left out: marts follow business questions and read
    the staging models of the sources they are about (``fct_sentiment_daily`` reads Fear
    & Greed), which a new API does not edit; the one model every exchange must join is
    listed in NAMES_SOURCES."""
    files: list[Path] = []
    for package in ("ingestion", "orchestration", "dashboard"):
        files += sorted((PROJECT_ROOT / package).rglob("*.py"))
    for folder, suffix in (("macros", ".sql"), ("seeds", ".csv")):
        files += sorted((PROJECT_ROOT / "dbt_project" / folder).rglob(f"*{suffix}"))
    return files


def test_every_registered_source_has_the_five_things_of_the_checklist() -> None:
    assert set(SIMULATED) == set(DESCRIPTIONS)  # 3: both registry lines
    for module in CONNECTORS:
        source = module.DESCRIPTION.name
        # 1: one connector module, named after the source, with its description
        assert module.__name__ == f"ingestion.connectors.{source}"
        assert module.ENDPOINTS and all(spec.source == source for spec in module.ENDPOINTS)
        # 2: one simulator handler module that routes every endpoint's path
        handler = PROJECT_ROOT / "ingestion" / "simulator" / "sources" / f"{source}.py"
        assert handler.is_file() and SIMULATED[source].routes, source
        # 4: real fixtures
        fixtures = PROJECT_ROOT / "tests" / "fixtures" / source
        assert any(fixtures.glob("*.json")), f"no real payloads in {fixtures}"
        # 5: a dbt staging folder declaring every endpoint's raw table as a source
        folder = STAGING / source
        assert list(folder.glob(f"stg_{source}__*.sql")), f"no staging model in {folder}"
        declared = yaml.safe_load((folder / f"_{source}__sources.yml").read_text())
        tables = {
            t["name"] for s in declared["sources"] if s["name"] == source for t in s["tables"]
        }
        assert {spec.endpoint for spec in REGISTRY if spec.source == source} <= tables


def test_no_other_production_file_names_a_source() -> None:
    sources = set(DESCRIPTIONS)
    offenders: dict[str, set[str]] = {}
    for path in _production_files():
        rel = path.relative_to(PROJECT_ROOT).as_posix()
        own = next((s for s in sources if rel.startswith(f"dbt_project/models/staging/{s}/")), None)
        if (
            own
            or rel in NAMES_SOURCES
            or rel
            in (
                *(f"ingestion/connectors/{s}.py" for s in sources),
                *(f"ingestion/simulator/sources/{s}.py" for s in sources),
            )
        ):
            continue
        names = _names(path, sources)
        if names:
            offenders[rel] = names
    assert offenders == {}, "name sources outside the checklist's five places (see CONTRIBUTING.md)"


def test_the_exceptions_still_name_a_source() -> None:
    """An entry of NAMES_SOURCES that no longer names a source is removed, not kept."""
    sources = set(DESCRIPTIONS)
    stale = []
    for rel in NAMES_SOURCES:
        path = PROJECT_ROOT / rel
        if not path.exists() or not _names(path, sources):
            stale.append(rel)
    assert stale == []


def test_the_generated_lists_are_up_to_date() -> None:
    """raw_endpoints() is what the staging folders say (one staging model per raw table,
    the one that selects from its source table) and each Dagster instance configuration
    limits every registered provider: rerun ``python -m ingestion.generate``."""
    from ingestion.generate import DEPLOY_CONFIGS, RAW_ENDPOINTS_MACRO, render_deploy, render_macro

    text = RAW_ENDPOINTS_MACRO.read_text()
    assert render_macro(text) == text
    for config in DEPLOY_CONFIGS:
        text = config.read_text()
        assert render_deploy(text) == text, config


def test_a_toy_api_added_by_the_checklist_alone_is_known_everywhere() -> None:
    """tests/toy_source.py adds an API as CONTRIBUTING.md says (a connector module, a
    simulator handler module, their registry lines) and nothing else: its settings, HTTP
    client behaviour (keyed rate, key header, an error inside a 200 retried), raw table
    and .env.example lines follow, and the simulator serves it."""
    script = PROJECT_ROOT / "tests" / "toy_source.py"
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
