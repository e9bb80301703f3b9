"""The dbt project agrees with the Python side: raw contract, sources, no seeds (no database)."""

from __future__ import annotations

import re
from typing import Any

import yaml
from dbt_helpers import DBT_PROJECT

from ingestion.raw_tables import RAW_TABLES


def test_no_seed_holds_a_second_copy_of_the_mapping() -> None:
    """Assets, exchanges and symbols come from the resolved mapping (raw.asset_symbols),
    written by ingestion from the exchanges' listings; no seed repeats them."""
    assert not list((DBT_PROJECT / "seeds").glob("*.csv"))
    seeds = re.compile(r"ref\('(assets|exchanges|symbol_map)'\)")
    models = (DBT_PROJECT / "models").rglob("*.sql")
    assert not [p.name for p in models if seeds.search(p.read_text())]


def _sources() -> dict[tuple[str, str], dict[str, Any]]:
    tables: dict[tuple[str, str], dict[str, Any]] = {}
    for path in (DBT_PROJECT / "models" / "staging").glob("*/_*__sources.yml"):
        for source in yaml.safe_load(path.read_text())["sources"]:
            for table in source["tables"]:
                merged = {**source.get("config", {}), **table.get("config", {})}
                tables[(source["name"], table["name"])] = {
                    **table,
                    "config": merged,
                    "schema": source["schema"],
                }
    return tables


def test_every_raw_table_is_a_source_linked_to_its_ingestion_asset() -> None:
    sources = _sources()
    for table in RAW_TABLES:
        declared = sources[(table.source, table.endpoint)]
        assert declared["schema"] == "raw"
        assert declared["identifier"] == table.name
        assert declared["config"]["loaded_at_field"] == table.loaded_at_field
        assert declared["config"]["meta"]["dagster"]["asset_key"] == list(table.asset_key)
        assert declared["config"]["freshness"]["warn_after"]["count"] > 0
        columns = [c["name"] for c in declared["columns"]]
        assert columns[: len(table.key_names)] == list(table.key_names)
    assert {("ingestion", "ingestion_runs"), ("ingestion", "quarantine")} <= set(sources)


def test_daily_sources_tolerate_their_cadence() -> None:
    sources = _sources()
    fx = sources[("fx", "rates")]["config"]["freshness"]["warn_after"]
    assert (fx["count"], fx["period"]) == (4, "day")  # no ECB rates on weekends
    fng = sources[("fear_greed", "fng")]["config"]["freshness"]["warn_after"]
    assert fng["period"] == "hour" and fng["count"] >= 24


def test_raw_endpoints_macro_lists_the_contract() -> None:
    text = (DBT_PROJECT / "macros" / "raw_endpoints.sql").read_text()
    listed = re.findall(r"\('(\w+)', '(\w+)', 'stg_\w+'\)", text)
    assert sorted(listed) == sorted((t.source, t.endpoint) for t in RAW_TABLES)


MART_AREAS = ("market", "operations")


def test_each_mart_has_its_own_yaml_with_its_unit_tests_beside_it() -> None:
    """jaffle-shop's layout: marts by business area, ``<model>.yml`` next to ``<model>.sql``
    describing that model only, and its unit tests in the same file."""
    marts = DBT_PROJECT / "models" / "marts"
    assert sorted(p.name for p in marts.iterdir() if p.is_dir()) == sorted(MART_AREAS)
    assert list(marts.glob("*.sql")) == [] and list(marts.glob("*.yml")) == []
    models = sorted(marts.glob("*/*.sql"))
    assert len(models) >= 18
    for sql in models:
        properties = yaml.safe_load(sql.with_suffix(".yml").read_text())
        assert [m["name"] for m in properties["models"]] == [sql.stem], sql
        for unit_test in properties.get("unit_tests") or []:
            assert unit_test["model"] == sql.stem, (sql, unit_test["name"])
    for path in marts.glob("*/*.yml"):
        if not path.name.startswith("_"):
            assert path.with_suffix(".sql").exists(), f"{path} describes no model beside it"
