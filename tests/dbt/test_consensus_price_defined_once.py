"""One consensus price: computed in one dbt model, read as it is by the marts and the
dashboard (no database needed: the SQL is read as text)."""

from __future__ import annotations

import re

from dbt_helpers import DBT_PROJECT

from ingestion.settings import PROJECT_ROOT

# An aggregate that could turn several exchanges' prices into one.
AGGREGATE = re.compile(r"\b(avg|median|percentile_cont|percentile_disc|mode)\s*\(", re.I)


def test_only_int_price_consensus_aggregates_prices_into_a_consensus() -> None:
    computing = sorted(
        path.relative_to(DBT_PROJECT).as_posix()
        for folder in ("models", "macros")
        for path in (DBT_PROJECT / folder).rglob("*.sql")
        if AGGREGATE.search(path.read_text())
    )
    assert computing == ["models/intermediate/int_price_consensus.sql"]
    mart = (DBT_PROJECT / "models" / "marts" / "market" / "fct_price_consensus.sql").read_text()
    assert "ref('int_price_consensus')" in mart


def test_the_dashboard_reads_the_consensus_and_never_computes_one() -> None:
    queries = "\n".join(
        path.read_text() for path in (PROJECT_ROOT / "dashboard" / "data").glob("*.py")
    )
    assert not AGGREGATE.search(queries)
    assert "from marts.fct_price_consensus" in queries  # the top movers
