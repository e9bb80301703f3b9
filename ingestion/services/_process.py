"""Small process and port helpers shared by the local service managers."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from ingestion.errors import ServiceError


def port_is_free(host: str, port: int) -> bool:
    """True when nothing accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) != 0


def wait_for_port(host: str, port: int, timeout: float, *, is_alive: object = None) -> None:
    """Wait until ``host:port`` accepts connections, or raise ``ServiceError``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_is_free(host, port):
            return
        if callable(is_alive) and not is_alive():
            raise ServiceError(f"the server exited before listening on {host}:{port}")
        time.sleep(0.1)
    raise ServiceError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def pid_running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (someone else's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not running.
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return True
    return status != "Z"


def pid_cmdline(pid: int) -> str:
    """The command line of process ``pid``, arguments joined by spaces ("" when unreadable)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def read_pid_file(path: Path) -> int | None:
    """The pid written in ``path``, or None when the file is missing or holds no number."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None
