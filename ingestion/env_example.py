"""The per-source block of ``.env.example``, generated from the connector descriptions.

Every source's settings (its API key, where it takes one, and its base URL) come from its
connector module's ``DESCRIPTION``, so ``.env.example`` lists them without anyone writing
them by hand: ``python -m ingestion.env_example`` rewrites the block between the two
marker lines, and a test fails when the file and the registry drift apart.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ingestion.connectors.registry import DESCRIPTIONS
from ingestion.settings import PROJECT_ROOT

BEGIN = "# --- sources: generated from the connector modules (python -m ingestion.env_example) ---"
END = "# --- end of the generated sources block ---"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"


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


def render(text: str) -> str:
    """``text`` (an ``.env.example``) with its sources block replaced by the generated one.

    Args:
        text: The file's current contents; it must hold both marker lines.

    Returns:
        The new contents.

    Raises:
        ValueError: When a marker line is missing or they are out of order.
    """
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f".env.example lacks the marker lines {BEGIN!r} … {END!r}")
    return text[:start] + sources_block() + text[end + len(END) + 1 :]


def main(path: Path = ENV_EXAMPLE) -> int:
    """Rewrite the sources block of ``path`` in place.

    Args:
        path: The ``.env.example`` to update.

    Returns:
        The exit status: 0.
    """
    path.write_text(render(path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
