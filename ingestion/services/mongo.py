"""The MongoDB-protocol server: yours (``CRIPTOPIPE_MONGO_URI``), ``mongod`` on PATH, or FerretDB.

FerretDB v1.24.2 (Apache-2.0) speaks the MongoDB wire protocol over a SQLite backend. It is
built once from the project's small Go module (``ferretdb_build/``), which embeds FerretDB
through its public ``ferretdb`` package, and cached outside the clone
(``~/.cache/criptopipe/ferretdb-v1.24.2/ferretdb``) so every clone and CI run on the
machine reuses it. (A plain ``go install …/cmd/ferretdb@v1.24.2`` binary panics at start-up:
FerretDB's own main reads a generated ``build/version/version.txt`` that only exists in its
repository.)
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ingestion.errors import ServiceError
from ingestion.services._process import (
    pid_cmdline,
    pid_running,
    port_is_free,
    read_pid_file,
    wait_for_port,
)
from ingestion.services.credentials import mask_dsn

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
FERRETDB_VERSION = "v1.24.2"
BUILD_MODULE = Path(__file__).resolve().parent / "ferretdb_build"


@dataclass(frozen=True)
class MongoStatus:
    """What ``services status`` reports about the MongoDB-protocol server.

    Attributes:
        mode: "external", "mongod" or "ferretdb".
        running: whether it answers (external) or its process runs (local).
        url: its URI, password masked.
        version: the server's version, or why it could not be read.
        data_dir: the local server's data folder; None for an external one.
        pid: the local server's process id, None when it does not run.
        detail: a note for the user (an error, a stale pid), empty when none.
    """

    mode: str  # "external" | "mongod" | "ferretdb"
    running: bool
    url: str
    version: str | None
    data_dir: Path | None
    pid: int | None
    detail: str = ""


def mask_uri(uri: str) -> str:
    """The URI with its password (user info or ``?password=``) replaced by ``***``."""
    return mask_dsn(uri) if "://" in uri else uri


def local_uri(port: int) -> str:
    """The URI of the server the project starts itself (no authentication: 127.0.0.1 only)."""
    return f"mongodb://{HOST}:{port}/"


def ferretdb_binary(cache_dir: Path) -> Path:
    """Where the FerretDB binary built for this version lives under ``cache_dir``."""
    return cache_dir / f"ferretdb-{FERRETDB_VERSION}" / "ferretdb"


def build_ferretdb(cache_dir: Path) -> Path:
    """Build FerretDB from the project's Go module into ``cache_dir`` unless already there."""
    binary = ferretdb_binary(cache_dir)
    if binary.exists():
        return binary
    go = shutil.which("go")
    if go is None:
        raise ServiceError(
            "no MongoDB-protocol server available: CRIPTOPIPE_MONGO_URI is not set, there is no "
            "`mongod` on PATH, and Go is not installed to build FerretDB "
            f"{FERRETDB_VERSION}. Set CRIPTOPIPE_MONGO_URI, install MongoDB, or install Go."
        )
    binary.parent.mkdir(parents=True, exist_ok=True)
    tmp = binary.with_suffix(f".tmp{os.getpid()}")
    logger.warning("building FerretDB %s once into %s (a minute or two)", FERRETDB_VERSION, binary)
    env = {**os.environ, "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
    result = subprocess.run(
        [go, "build", "-o", str(tmp), "."],
        cwd=BUILD_MODULE,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise ServiceError(f"building FerretDB failed:\n{result.stderr.strip()[-2000:]}")
    tmp.replace(binary)  # atomic: a concurrent build never leaves a half-written binary
    return binary


class LocalMongo:
    """A project-started ``mongod`` or FerretDB, with data under ``<home>/mongo``.

    It is built from the state directory ``home``, the ``port`` to listen on and the
    ``cache_dir`` where FerretDB is built.
    """

    def __init__(self, home: Path, port: int, cache_dir: Path) -> None:
        self.root = home / "mongo"
        self.data_dir = self.root / "data"
        self.pid_file = self.root / "server.pid"
        self.log_file = self.root / "server.log"
        self.port = port
        self.cache_dir = cache_dir

    @property
    def uri(self) -> str:
        """The local server's connection URI."""
        return local_uri(self.port)

    def kind(self) -> str:
        """Which server is started: "mongod" when it is installed, else "ferretdb"."""
        return "mongod" if shutil.which("mongod") else "ferretdb"

    def _ours(self, pid: int) -> bool:
        cmd = pid_cmdline(pid)
        return str(self.data_dir) in cmd and ("ferretdb" in cmd or "mongod" in cmd)

    def pid(self) -> int | None:
        """The pid of the server this project started, if it still runs."""
        pid = read_pid_file(self.pid_file)
        if pid is not None and pid_running(pid) and self._ours(pid):
            return pid
        return None

    def stale_pid(self) -> int | None:
        """A pid file whose process is gone (or is another program): stale."""
        pid = read_pid_file(self.pid_file)
        if pid is not None and self.pid() is None:
            return pid
        return None

    def start(self) -> bool:
        """Start the server; False when it already ran."""
        if self.pid() is not None:
            return False
        stale = self.stale_pid()
        if stale is not None:
            logger.warning(
                "stale pid file %s (pid %d is not our server); starting a new one, data kept",
                self.pid_file,
                stale,
            )
        if not port_is_free(HOST, self.port):
            raise ServiceError(
                f"port {self.port} on {HOST} is already in use by another program; "
                "set CRIPTOPIPE_MONGO_PORT to a free port (nothing was changed)."
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.kind() == "mongod":
            args = [
                str(shutil.which("mongod")),
                "--dbpath",
                str(self.data_dir),
                "--bind_ip",
                HOST,
                "--port",
                str(self.port),
            ]
        else:
            binary = build_ferretdb(self.cache_dir)
            args = [
                str(binary),
                "--listen-addr",
                f"{HOST}:{self.port}",
                "--sqlite-url",
                f"file:{self.data_dir}/",
                "--log-level",
                "warn",
            ]
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.root,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        try:
            wait_for_port(HOST, self.port, 30, is_alive=lambda: proc.poll() is None)
        except ServiceError as err:
            tail = self.log_file.read_text(errors="replace")[-1500:]
            raise ServiceError(f"{self.kind()} did not start: {err}\n{tail}") from err
        return True

    def stop(self) -> bool:
        """Stop the server (SIGTERM, SIGKILL after 15 s); False when it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while pid_running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_running(pid):
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True


def server_version(uri: str) -> str:
    """The version the server at ``uri`` reports ("?" when it does not say)."""
    from pymongo import MongoClient

    client: MongoClient[dict[str, object]]
    with MongoClient(uri, serverSelectionTimeoutMS=3000) as client:
        return str(client.server_info().get("version", "?"))


def check_connection(uri: str) -> None:
    """Ping the server at ``uri``.

    Raises:
        ServiceError: it does not answer (the URI is masked in the message).
    """
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    client: MongoClient[dict[str, object]]
    try:
        with MongoClient(uri, serverSelectionTimeoutMS=3000) as client:
            client.admin.command("ping")
    except PyMongoError as err:
        raise ServiceError(f"cannot connect to MongoDB at {mask_uri(uri)}: {err}") from err
