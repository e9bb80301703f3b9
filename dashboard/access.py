"""Who may open the dashboard: loopback only, unless a password or Streamlit auth guards it.

The dashboard binds to 127.0.0.1 by default (``CRIPTOPIPE_DASHBOARD_ADDRESS``). Binding it
to any other address is refused unless one of these guards it:

* ``CRIPTOPIPE_DASHBOARD_PASSWORD``: every session asks for it before any page runs;
* Streamlit's own authentication (OIDC: ``st.login``), configured by an ``[auth]`` table in
  ``.streamlit/secrets.toml`` (the project's or ``~/.streamlit/``).
"""

from __future__ import annotations

import hmac
import ipaddress
import tomllib
from pathlib import Path

from ingestion.errors import IngestionError
from ingestion.settings import PROJECT_ROOT, ReaderSettings

SECRETS_FILES = (
    PROJECT_ROOT / ".streamlit" / "secrets.toml",
    Path.home() / ".streamlit" / "secrets.toml",
)
_SESSION_KEY = "criptopipe_dashboard_unlocked"


class UnguardedBindError(IngestionError, ValueError):
    """A non-loopback address with neither a password nor Streamlit auth."""


def is_loopback(address: str) -> bool:
    """Whether ``address`` can only be reached from this machine (``localhost`` or a loopback IP).

    A host name other than ``localhost`` counts as not loopback: it may resolve anywhere.
    """
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def streamlit_auth_configured(files: tuple[Path, ...] = SECRETS_FILES) -> bool:
    """Whether a ``secrets.toml`` Streamlit reads has an ``[auth]`` table."""
    for path in files:
        try:
            if "auth" in tomllib.loads(path.read_text()):
                return True
        except (FileNotFoundError, tomllib.TOMLDecodeError):
            continue
    return False


def check_bind(address: str, settings: ReaderSettings) -> None:
    """Raise :class:`UnguardedBindError` when ``address`` would expose an open dashboard."""
    if is_loopback(address) or settings.dashboard_password is not None:
        return
    if streamlit_auth_configured():
        return
    raise UnguardedBindError(
        f"refusing to serve the dashboard on {address}: anyone who can reach it would read "
        "the warehouse. Set CRIPTOPIPE_DASHBOARD_PASSWORD, or configure Streamlit's own "
        "auth ([auth] in .streamlit/secrets.toml), or bind 127.0.0.1 (the default)."
    )


def password_matches(entered: str, expected: str) -> bool:
    """Compare the entered password with the expected one in constant time."""
    return hmac.compare_digest(entered.encode(), expected.encode())


def require_access() -> None:
    """Run before any page: stop the script until the visitor may see the dashboard."""
    import streamlit as st

    if streamlit_auth_configured():
        if not st.user.is_logged_in:
            st.title("criptopipe")
            st.button("Log in", on_click=st.login)
            st.stop()
        return
    password = ReaderSettings().dashboard_password
    if password is None or st.session_state.get(_SESSION_KEY):
        return
    st.title("criptopipe")
    entered = st.text_input("Dashboard password", type="password", key="dashboard_password")
    if entered and password_matches(entered, password.get_secret_value()):
        st.session_state[_SESSION_KEY] = True
        st.rerun()
    if entered:
        st.error("Wrong password.")
    st.stop()
