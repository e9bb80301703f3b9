"""The lists of sources that live in files, generated: ``python -m ingestion.generate``.

* ``.env.example``'s sources block: every source's settings (its API key, where it takes
  one, and its base URL), from its connector module's ``DESCRIPTION``;
* the Dagster instance configurations (``deploy/dagster.yaml`` and its launcher variants):
  the run queue's limit of one run per provider (tag ``criptopipe.provider/<source>``);
* dbt's ``raw_endpoints()`` macro: every raw table of the contract and the staging model
  that reads it (the one ``stg_*.sql`` of its staging folder that selects from
  ``source('<source>', '<endpoint>')``). dbt resolves ``ref()`` while it parses, before
  its graph exists, so the list must be written out; it is, from the staging folders.

Nobody writes either by hand; a test fails when a file and what it is made from drift.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ingestion.connectors.registry import DESCRIPTIONS
from ingestion.raw_tables import RAW_TABLES
from ingestion.settings import PROJECT_ROOT

BEGIN = "# --- sources: generated from the connector modules (python -m ingestion.generate) ---"
END = "# --- end of the generated sources block ---"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
RAW_ENDPOINTS_MACRO = PROJECT_ROOT / "dbt_project" / "macros" / "raw_endpoints.sql"
STAGING = PROJECT_ROOT / "dbt_project" / "models" / "staging"
DEPLOY_CONFIGS = tuple(
    PROJECT_ROOT / "deploy" / sub / "dagster.yaml" for sub in ("", "docker", "kubernetes")
)
PROVIDERS_BEGIN = (
    "      # --- providers: generated from the connector registry (python -m ingestion.generate)"
)
PROVIDERS_END = "      # --- end of the generated providers block"
MACRO_BEGIN = "{% macro raw_endpoints() -%}"
MACRO_END = "{%- endmacro %}"


def sources_block() -> str:
    """The generated block, marker lines included, one paragraph per setting.

    Returns:
        The block's text, ending in a newline.
    """
    lines = [BEGIN]
    for source in DESCRIPTIONS.values():
        if source.api_key is not None and source.api_key_setting is not None:
            lines += [
                f"# {source.api_key.description}",
                f"# CRIPTOPIPE_{source.api_key_setting.upper()}=",
                "",
            ]
        lines += [
            f"# Base URL of the {source.title} API (point it at the simulator for offline runs).",
            f"# CRIPTOPIPE_{source.base_url_setting.upper()}={source.base_url}",
            "",
        ]
    lines[-1] = END
    return "\n".join(lines) + "\n"


def _replace_block(text: str, begin: str, end: str, block: str, what: str) -> str:
    """``text`` with the lines from ``begin`` to ``end`` (markers included) set to ``block``.

    Raises:
        ValueError: When a marker line is missing or they are out of order.
    """
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"{what} lacks the marker lines {begin.strip()!r} … {end.strip()!r}")
    return text[:start] + block + text[stop + len(end) + 1 :]


def render(text: str) -> str:
    """``text`` (an ``.env.example``) with its sources block replaced by the generated one.

    Args:
        text: The file's current contents; it must hold both marker lines.

    Returns:
        The new contents.
    """
    return _replace_block(text, BEGIN, END, sources_block(), ".env.example")


def providers_block() -> str:
    """The run queue's per-provider limits, marker lines included: one run at a time per source.

    A source is known by the tag every ingestion job of that source carries.

    Returns:
        The block's YAML lines (indented for ``tag_concurrency_limits``), ending in a newline.
    """
    lines = [PROVIDERS_BEGIN]
    for source in DESCRIPTIONS:
        lines += [f"      - key: criptopipe.provider/{source}", "        limit: 1"]
    lines.append(PROVIDERS_END)
    return "\n".join(lines) + "\n"


def render_deploy(text: str) -> str:
    """``text`` (a ``dagster.yaml``) with its providers block replaced by the generated one.

    Args:
        text: The file's current contents; it must hold both marker lines.

    Returns:
        The new contents.
    """
    return _replace_block(text, PROVIDERS_BEGIN, PROVIDERS_END, providers_block(), "dagster.yaml")


def staging_model(source: str, endpoint: str, staging: Path = STAGING) -> str:
    """The staging model that reads ``raw.<source>__<endpoint>``.

    Args:
        source: The source id (its staging folder's name).
        endpoint: The endpoint name (the source table's name).
        staging: The dbt staging models folder.

    Returns:
        The model name (``stg_<source>__<entity>``).

    Raises:
        ValueError: Unless exactly one model of the folder selects from that source table.
    """
    pattern = re.compile(rf"source\(\s*'{re.escape(source)}'\s*,\s*'{re.escape(endpoint)}'\s*\)")
    found = [
        path.stem
        for path in sorted((staging / source).glob(f"stg_{source}__*.sql"))
        if pattern.search(path.read_text())
    ]
    if len(found) != 1:
        raise ValueError(
            f"raw.{source}__{endpoint}: expected one staging model in {staging / source} "
            f"reading source('{source}', '{endpoint}'), found {found or 'none'}"
        )
    return found[0]


def raw_endpoints_macro(staging: Path = STAGING) -> str:
    """The ``raw_endpoints()`` macro: (source, endpoint, staging model) of each raw table.

    Args:
        staging: The dbt staging models folder.

    Returns:
        The macro, from its opening tag to its closing one.
    """
    rows = [
        f"        ('{t.source}', '{t.endpoint}', '{staging_model(t.source, t.endpoint, staging)}'),"
        for t in RAW_TABLES
    ]
    return "\n".join(
        [
            MACRO_BEGIN,
            "    {#- generated by `python -m ingestion.generate` from the staging folders -#}",
            "    {{ return([",
            *rows,
            "    ]) }}",
            MACRO_END,
        ]
    )


def render_macro(text: str, staging: Path = STAGING) -> str:
    """``text`` (``raw_endpoints.sql``) with the macro replaced by the generated one.

    Args:
        text: The file's current contents.
        staging: The dbt staging models folder.

    Returns:
        The new contents.

    Raises:
        ValueError: When the file has no ``raw_endpoints()`` macro.
    """
    start = text.find(MACRO_BEGIN)
    end = text.find(MACRO_END, start)
    if start < 0 or end < 0:
        raise ValueError(f"{RAW_ENDPOINTS_MACRO.name} has no {MACRO_BEGIN!r} … {MACRO_END!r}")
    return text[:start] + raw_endpoints_macro(staging) + text[end + len(MACRO_END) :]


def main() -> int:
    """Rewrite the generated parts of the files generated from the connector registry, in place.

    They are ``.env.example``, the Dagster instance configurations and ``raw_endpoints.sql``.

    Returns:
        The exit status: 0.
    """
    ENV_EXAMPLE.write_text(render(ENV_EXAMPLE.read_text()))
    for config in DEPLOY_CONFIGS:
        config.write_text(render_deploy(config.read_text()))
    RAW_ENDPOINTS_MACRO.write_text(render_macro(RAW_ENDPOINTS_MACRO.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
