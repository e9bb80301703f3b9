"""The dbt resource of criptopipe's Dagster steps: dbt-core in the step's own process.

dagster-dbt's ``DbtCliResource`` starts ``dbt`` as a child process for every step: a new
interpreter that imports dbt-core (~4 CPU s) and loads the project's parse again, on top of
what the Dagster process already did. An hourly schedule pays that every hour, for a
``dbt build`` of two marts and their tests that takes dbt itself well under a second.

:class:`CriptopipeDbtCliResource` runs the same ``dbt build`` in the step's process with
dbt-core's programmatic API (``dbt.cli.main.dbtRunner``):

* **One parse per project and profile.** The first invocation in a process parses the
  project (partially, from the profile's parse cache, see ``orchestration.dbt_invocations``)
  and keeps dbt's ``Manifest``; later invocations reuse it. A change of the project's files,
  of the warehouse profile (``CRIPTOPIPE_DBT_*``), of ``--vars`` or of an environment
  variable the parse read makes the next invocation parse again.
* **One invocation at a time.** dbt-core keeps its state in globals and does not support two
  invocations at once in one process: a lock makes them take turns (Dagster's ``dbt`` pool
  already runs one dbt step at a time across runs).
* **The same Dagster events.** dbt's structured events reach a callback, become the lines
  ``dbt --log-format json`` prints, and go through dagster-dbt's own ``DbtCliInvocation``:
  an output or materialization per model, an asset check result per test (blocking ones
  included), dbt's lines in the step's log, and a failed model or test fails the step with
  dbt's message, as with the child process.

``in_process=False`` keeps dagster-dbt's child process (the README says when one would). A
selection of more than 200 nodes, for which dagster-dbt writes a selector file into a copy
of the project, also takes the child process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from dagster import AssetExecutionContext, OpExecutionContext
from dagster_dbt import DagsterDbtTranslator, DbtCliResource
from dagster_dbt.asset_utils import (
    extract_runtime_selection_from_args,
    get_updated_cli_invocation_params_for_context,
)
from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation
from dagster_dbt.dagster_dbt_translator import validate_opt_translator
from dagster_dbt.dbt_manifest import DbtManifestParam, validate_manifest
from pydantic import Field

from orchestration.dbt_invocations import PARTITION_ENV
from orchestration.dbt_manifest import project_hash

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest
    from dbt_common.events.base_types import EventMsg
    from packaging.version import Version  # dagster-dbt's own dependency

logger = logging.getLogger(__name__)

# dbt-core runs one invocation at a time per process.
DBT_LOCK = threading.Lock()
# Parsed manifests by project state and profile (tests use a warehouse each; keep a few).
KEEP_MANIFESTS = 4
# Each with the environment variables its parse read (a run adds the ones it reads to
# the manifest's own record, e.g. the partition window).
_MANIFESTS: OrderedDict[str, tuple[Manifest, dict[str, str]]] = OrderedDict()
PROFILE_PREFIX = "CRIPTOPIPE_DBT_"
_VERSIONS: dict[str, Version] = {}


class CriptopipeDbtCliResource(DbtCliResource):
    """``DbtCliResource`` that runs dbt in this process, reusing one parse of the project.

    With ``in_process=False`` it is dagster-dbt's resource, except that it asks
    ``dbt --version`` once per process rather than once per run.
    """

    in_process: bool = Field(
        default=True,
        description="Run dbt-core in the step's process (one parse per project and "
        "profile, reused); false: a dbt child process per invocation, as dagster-dbt does.",
    )

    @property
    def _cli_version(self) -> Version:
        if self.in_process:
            from dbt.version import __version__
            from packaging.version import parse

            return parse(__version__)
        found = _VERSIONS.get(self.dbt_executable)
        if found is None:
            stock = DbtCliResource.__dict__["_cli_version"]  # the stock cached_property
            found = _VERSIONS[self.dbt_executable] = stock.func(self)
        return found

    def cli(
        self,
        args: Sequence[str],
        *,
        raise_on_error: bool = True,
        manifest: DbtManifestParam | None = None,
        dagster_dbt_translator: DagsterDbtTranslator | None = None,
        context: OpExecutionContext | AssetExecutionContext | None = None,
        target_path: Path | None = None,
    ) -> DbtCliInvocation:
        """A dbt command, in this process (or as dagster-dbt's child process).

        Args:
            args: The dbt command and its flags (``["build", "--no-write-json"]``).
            raise_on_error: Raise when dbt fails (when the events have been read).
            manifest: The manifest the events are translated with (default: the assets').
            dagster_dbt_translator: The translator (default: the assets').
            context: The step's context: the selection and the run's target folder.
            target_path: The invocation's target folder (default: a new one per invocation).

        Returns:
            The invocation, read like dagster-dbt's (``stream()``, ``wait()``).
        """
        stock = {
            "raise_on_error": raise_on_error,
            "manifest": manifest,
            "dagster_dbt_translator": dagster_dbt_translator,
            "context": context,
            "target_path": target_path,
        }
        if not self.in_process:
            return super().cli(args, **stock)  # type: ignore[arg-type]
        translator = validate_opt_translator(dagster_dbt_translator) or DagsterDbtTranslator()
        cleaned, selects, excludes = extract_runtime_selection_from_args(args)
        params = get_updated_cli_invocation_params_for_context(
            context=context,
            manifest=validate_manifest(manifest) if manifest else {},
            dagster_dbt_translator=translator,
            runtime_selects=selects,
            runtime_excludes=excludes,
        )
        project_dir = Path(self.project_dir)
        if params.dbt_project and Path(params.dbt_project.project_dir) != project_dir:
            # dagster-dbt wrote a selector into a copy of the project (a long selection).
            return super().cli(args, **stock)  # type: ignore[arg-type]
        target = target_path or self._get_unique_target_path(context=context)
        if not target.is_absolute():
            target = project_dir / target
        dbt_args = [
            *cleaned,
            *self.global_config_flags,
            *(["--profile", self.profile] if self.profile else []),
            *(["--target", self.target] if self.target else []),
            *params.selection_args,
            *(
                ["--indirect-selection", params.indirect_selection]
                if params.indirect_selection
                else []
            ),
        ]
        process = InProcessDbt(
            dbt_args,
            project_dir=project_dir,
            profiles_dir=Path(self.profiles_dir or self.project_dir),
            target_path=target,
        )
        invocation = DbtCliInvocation(
            process=cast("Any", process),
            manifest=params.manifest,
            dagster_dbt_translator=params.dagster_dbt_translator,
            project_dir=project_dir,
            target_path=target,
            raise_on_error=raise_on_error,
            context=context,
            adapter=None,
            cli_version=self._cli_version,
            project=params.dbt_project,
        )
        logger.info("Running dbt in process: `%s`", invocation.dbt_command)
        return invocation


class _Lines:
    """dbt's JSON log lines as they come, read like a child process's stdout pipe."""

    def __init__(self) -> None:
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        self.closed = False

    def put(self, line: bytes | None) -> None:
        self._queue.put(line)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self._queue.get()
            if line is None:
                return
            yield line

    def __enter__(self) -> _Lines:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.closed = True


class InProcessDbt:
    """One dbt invocation on a thread of this process, read like a child process.

    It has what ``DbtCliInvocation`` reads of a ``subprocess.Popen``: ``args``, ``stdout``
    (dbt's JSON lines), ``wait()``, ``returncode`` and ``send_signal()`` (an interrupt
    cancels dbt's open queries).

    The thread starts at once; it waits for the lock while another invocation runs. The
    environment dbt reads (the warehouse profile, a partition window) must stay as it is
    until the lines have been read.

    Args:
        args: The dbt command and flags (without the executable, project or target flags).
        project_dir: The dbt project.
        profiles_dir: The folder of ``profiles.yml``.
        target_path: This invocation's target folder (its compiled SQL and ``dbt.log``).
    """

    def __init__(
        self, args: Sequence[str], *, project_dir: Path, profiles_dir: Path, target_path: Path
    ) -> None:
        self.project_dir = project_dir
        self.profiles_dir = profiles_dir
        self.target_path = target_path
        self.dbt_args = [
            *args,
            *("--project-dir", str(project_dir), "--profiles-dir", str(profiles_dir)),
            *("--target-path", str(target_path), "--log-path", str(target_path)),
            # No console logger: the events come through the callback (at the console's
            # level, info), the debug log goes to the target folder's dbt.log.
            *("--log-level", "none", "--log-level-file", "debug", "--no-use-colors"),
            "--no-send-anonymous-usage-stats",
        ]
        self.args = ["dbt", *args]  # what the run's log shows as the command
        self.stdout = _Lines()
        self.returncode: int | None = None
        self._errors = 0
        self._thread = threading.Thread(target=self._run, name="dbt", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for dbt to finish; its exit code (0 success, 1 failures, 2 an error)."""
        self._thread.join(timeout)
        return self.returncode

    def send_signal(self, signal: int) -> None:
        """Stop dbt as Ctrl-C does the CLI: cancel its open queries (``signal`` is ignored)."""
        from dbt.adapters.factory import FACTORY

        for adapter in list(FACTORY.adapters.values()):
            adapter.cancel_open_connections()  # type: ignore[attr-defined]

    def _emit(self, msg: EventMsg) -> None:
        if msg.info.level == "debug":
            return
        from dbt_common.events.functions import msg_to_dict
        from dbt_common.exceptions.base import env_secrets, scrub_secrets

        if msg.info.level == "error":
            self._errors += 1
        line = json.dumps(msg_to_dict(msg), sort_keys=True, default=str)
        self.stdout.put(str(scrub_secrets(line, env_secrets())).encode())

    def _error_line(self, message: str) -> None:
        self._errors += 1
        event = {"info": {"level": "error", "msg": message, "name": "MainEncounteredError"}}
        self.stdout.put(json.dumps({**event, "data": {}}).encode())

    def _run(self) -> None:
        from dbt.cli.main import dbtRunner

        code = 2
        try:
            with DBT_LOCK:
                before = set(_dbt_environment())
                try:
                    manifest = self._manifest()
                    result = dbtRunner(manifest=manifest, callbacks=[self._emit]).invoke(
                        self.dbt_args
                    )
                finally:
                    # dbtRunner loads a .env it finds into os.environ: leave ours as it was.
                    for name in set(_dbt_environment()) - before:
                        os.environ.pop(name, None)
            code = 0 if result.success else 2 if result.exception is not None else 1
            if result.exception is not None and not self._errors:
                self._error_line(f"dbt failed: {result.exception}")
        except BaseException as error:  # reported as dbt's error, as its CLI does
            self._error_line(f"dbt failed: {type(error).__name__}: {error}")
        finally:
            self.returncode = code
            self.stdout.put(None)

    def _manifest(self) -> Manifest:
        """The project's manifest for the current profile, parsed once (called under the lock)."""
        environment = _dbt_environment()
        key = manifest_key(self.project_dir, self.dbt_args, environment)
        found = _MANIFESTS.get(key)
        if found is not None and _unchanged(found[1], environment):
            _MANIFESTS.move_to_end(key)
            return found[0]
        from dbt.cli.main import dbtRunner
        from dbt.contracts.graph.manifest import Manifest

        # The folder of the invocation's target folder: dagster-dbt makes that one inside
        # DBT_TARGET_PATH, the profile's parse cache; dbt parses only what changed since.
        cache = str(self.target_path.parent)
        parse = [
            "parse",
            *("--project-dir", str(self.project_dir), "--profiles-dir", str(self.profiles_dir)),
            *("--target-path", cache, "--log-path", cache, "--no-write-json"),
            *("--log-level", "none", "--log-level-file", "none"),
            "--no-send-anonymous-usage-stats",
            *_vars(self.dbt_args),
        ]
        result = dbtRunner(callbacks=[self._emit]).invoke(parse)
        if not result.success or not isinstance(result.result, Manifest):
            raise RuntimeError(f"dbt parse failed: {result.exception}")
        _MANIFESTS[key] = (result.result, dict(result.result.env_vars))
        while len(_MANIFESTS) > KEEP_MANIFESTS:
            _MANIFESTS.popitem(last=False)
        return result.result


def _vars(args: Sequence[str]) -> list[str]:
    if "--vars" in args:
        at = list(args).index("--vars")
        return list(args[at : at + 2])
    return []


def _dbt_environment() -> dict[str, str]:
    """The environment as dbt reads it (dbt's own ``get_env``).

    Not criptopipe's configuration (that comes from ``Settings``): what dbt's profile and
    project render with, which a parse is valid for. criptopipe puts the warehouse profile
    there (``PostgresResource.export_dbt_env``); a user's own variables count too.
    """
    from dbt_common.clients.system import get_env

    return get_env()


def manifest_key(project_dir: Path, args: Sequence[str], environment: Mapping[str, str]) -> str:
    """What a parse of ``project_dir`` holds for: its files, the profile, ``--vars``.

    Args:
        project_dir: The dbt project.
        args: The invocation's dbt arguments (their ``--vars``, if any).
        environment: The environment dbt reads (:func:`_dbt_environment`).

    Returns:
        A SHA-256 of the project's files, the ``CRIPTOPIPE_DBT_*`` values the profile reads
        (not the partition window, which only the run reads) and the vars.
    """
    profile = sorted(
        (name, value)
        for name, value in environment.items()
        if name.startswith(PROFILE_PREFIX) and name not in PARTITION_ENV
    )
    text = repr((str(project_dir), project_hash(project_dir), profile, _vars(args)))
    return hashlib.sha256(text.encode()).hexdigest()


def _unchanged(read: Mapping[str, str], environment: Mapping[str, str]) -> bool:
    """Whether every environment variable a parse read still has the value it read."""
    from dbt.constants import DEFAULT_ENV_PLACEHOLDER  # what the parse saw of a missing one

    return all(
        environment.get(name, DEFAULT_ENV_PLACEHOLDER) == value for name, value in read.items()
    )
