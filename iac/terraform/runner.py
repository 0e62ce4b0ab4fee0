"""Terraform for pipelines: the one module that runs it, never interactively, never waiting on stdin.

Command lines are built by python-terraform (`generate_cmd_string`). Its execution path is not used,
because python-terraform 0.10.1 inherits stdin (a prompt would hang a pipeline), cannot stream output
while capturing it, leaks `synchronous=False` as a flag, sends `-auto-approve=false`/`-force` from
apply()/destroy(), raises TypeError from output("name"), logs through the deprecated `log.warn`, and
reads the local state (which holds the HMAC secret) into memory after every command.

The plan file and the local state hold the HMAC secret, so Terraform runs with umask 077 and in its own
process group, and a SIGINT, SIGTERM or SIGHUP that iac receives while Terraform runs is passed on to
Terraform once (it then stops cleanly: it writes state and releases the lock); iac waits for it, then
raises `Interrupted` so callers' `finally` blocks delete the plan file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from iac.defaults import DEFAULT_LOCK_TIMEOUT
from iac.errors import IacError, Interrupted
from iac.signals import handlers_installable, takes_over

Progress = Callable[[str], None]
_T = TypeVar("_T")

# Diagnostics longer than this are cut from the middle: the first and last lines say what went wrong.
_MAX_DIAGNOSTIC_LINES = 60

# How long Terraform gets to stop after a forwarded signal before it (and its provider plugins) are killed.
STOP_TIMEOUT = 60.0
# Terraform stops cleanly on SIGINT and SIGTERM; SIGHUP would kill it outright, so it is passed on as SIGTERM.
# Only the first signal is passed on: Terraform takes a second one as "exit immediately", which can leave
# the state locked and unwritten.
_FORWARD_AS = {signal.SIGINT: signal.SIGINT, signal.SIGTERM: signal.SIGTERM, signal.SIGHUP: signal.SIGTERM}
# Files Terraform may have written group- or world-readable before it ran with umask 077; they hold the
# state (the HMAC secret) or the backend configuration.
_STATE_FILES = ("terraform.tfstate", "terraform.tfstate.backup", ".terraform/terraform.tfstate")
# The umask Terraform runs with: the plan, state, backup and lock files it creates are 0600.
_CHILD_UMASK = 0o077


class TerraformError(IacError):
    """A Terraform command failed; the message keeps Terraform's own diagnostic text.

    `private_stdout`: the command's stdout is its result and can hold the state or sensitive outputs
    (`show -json`, `output -json`), so only its stderr is shown, whatever it printed before failing.
    """

    def __init__(self, command: str, code: int, diagnostics: str, *, private_stdout: bool = False) -> None:
        self.command = command
        self.code = code
        self.diagnostics = diagnostics
        text = _shorten(diagnostics.strip()) or "(Terraform printed no diagnostic)"
        if private_stdout:
            text += "\n(its output, which can hold the state, is not shown)"
        hint = what_to_do(diagnostics)
        if hint:
            text += f"\niac: {hint}"
        ended = f"was killed by {_signal_name(-code)}" if code < 0 else f"failed (exit status {code})"
        super().__init__(f"`{command}` {ended}:\n{text}")


# Terraform's words for failures whose fix is outside the configuration, and what to do about each.
_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("could not find default credentials", "oauth2: cannot fetch token", "invalid_grant"),
        "Terraform found no usable Google credentials (for the state backend or the provider): run "
        "`gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service account key "
        "file (in CI, the runner's workload identity), then run again",
    ),
    (
        ("does not have storage.objects", "does not have storage.buckets"),
        "the account Terraform uses may not read or write the state bucket (terraform.backend.gcs.bucket): grant it "
        "roles/storage.objectAdmin on that bucket, then run again",
    ),
    (
        ("Failed to query available provider packages", "Failed to install provider", "could not connect to registry"),
        "Terraform could not download the providers: allow HTTPS to registry.terraform.io and releases.hashicorp.com "
        "(HTTPS_PROXY for a proxy), or install them from a mirror (provider_installation in the Terraform CLI "
        "config, TF_CLI_CONFIG_FILE; `terraform providers mirror` fills one), then run again",
    ),
)


def what_to_do(diagnostics: str) -> str | None:
    """One line of iac's own for a Terraform failure whose words iac knows (credentials, the registry)."""
    for words, hint in _HINTS:
        if any(word in diagnostics for word in words):
            return hint
    return None


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


# The name of each JSON kind iac expects from Terraform, for messages.
_KINDS: dict[type, str] = {dict: "object", list: "list", str: "string"}


def _found(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


_MISSING: Any = object()


@dataclass(frozen=True)
class TerraformJson:
    """Reads JSON that Terraform printed with its shape checked: whatever is not what iac expects is one
    `IacError` naming `source` and where in the document it is (never the value: it may be a secret)."""

    source: str

    def at(self, parent: dict[str, Any], key: str, kind: type[_T], where: str = "", *, required: bool = False) -> _T:
        """`parent[key]`, which must be of `kind`; absent and not `required`: an empty `kind`."""
        value = parent.get(key, _MISSING)
        if value is _MISSING and not required:
            return kind()
        return self.item(
            None if value is _MISSING else value, kind, f"{where}.{key}" if where else key, missing=value is _MISSING
        )

    def item(self, value: object, kind: type[_T], where: str, *, missing: bool = False) -> _T:
        """`value`, which must be of `kind` (found at `where`)."""
        if not isinstance(value, kind):
            found = "nothing" if missing else _found(value)
            raise IacError(
                f"{self.source}: no {_KINDS.get(kind, kind.__name__)} at {where} (found {found}): iac cannot read "
                "it; this iac reads the JSON of Terraform 1.5 or newer"
            )
        return value


def _shorten(text: str) -> str:
    lines = text.splitlines()
    if len(lines) <= _MAX_DIAGNOSTIC_LINES:
        return text
    half = _MAX_DIAGNOSTIC_LINES // 2
    return "\n".join([*lines[:half], f"... ({len(lines) - 2 * half} lines omitted) ...", *lines[-half:]])


class _Forwarder:
    """While entered (main thread only), SIGINT, SIGTERM and SIGHUP are recorded instead of handled, and the
    first one is passed on to the attached Terraform process; Terraform and its plugins are killed if it
    has not exited `stop_timeout` seconds later."""

    def __init__(self, stop_timeout: float) -> None:
        self.stop_timeout = stop_timeout
        self.received: list[int] = []
        self.killed = False
        self._process: subprocess.Popen[str] | None = None
        self._forwarded = False
        self._deadline: threading.Timer | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Forwarder:
        if handlers_installable():
            for signum in _FORWARD_AS:
                if takes_over(signum):
                    self._previous[signum] = signal.signal(signum, self._received)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    @property
    def forwarded(self) -> bool:
        return self._forwarded

    def attach(self, process: subprocess.Popen[str]) -> None:
        self._process = process
        if self.received:  # received between the handlers going in and Terraform starting
            self._forward()

    def interrupted(self, shown: str) -> Interrupted:
        signum = self.received[0]
        if self.killed:
            detail = (
                f"Terraform did not stop within {self.stop_timeout:g} s and was killed; the state may still be "
                "locked: once no other run is using it, release it with `terraform force-unlock LOCK_ID` in "
                "the output directory"
            )
        elif self._process is None:
            detail = f"`{shown}` was not started (run again to continue)"
        else:
            detail = "Terraform was stopped; the state lock was released (run again to continue)"
        return Interrupted(signum, detail)

    def _received(self, signum: int, frame: object) -> None:
        self.received.append(signum)
        if self._process is not None:
            self._forward()

    def _forward(self) -> None:
        if self._forwarded or self._process is None:
            return
        self._forwarded = True
        self._process.send_signal(_FORWARD_AS[signal.Signals(self.received[0])])
        self._deadline = threading.Timer(self.stop_timeout, self._kill)
        self._deadline.daemon = True
        self._deadline.start()

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self.killed = True
            _kill_group(self._process)


def _kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL Terraform and the provider plugins it started (its own process group)."""
    with contextlib.suppress(OSError):
        os.killpg(process.pid, signal.SIGKILL)


def json_object(text: str, shown: str) -> dict[str, Any]:
    """The JSON object that the command `shown` printed as `text`; anything else is one message."""
    try:
        document = json.loads(text or "{}")
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise IacError(f"`{shown}` did not print JSON (unreadable{where})") from None
    if not isinstance(document, dict):
        raise IacError(f"`{shown}` printed {_found(document)}, not a JSON object")
    return document


def find_terraform(explicit: str | None = None) -> str:
    """The terraform binary: --terraform / IAC_TERRAFORM, else `terraform` on PATH."""
    candidate = explicit or os.environ.get("IAC_TERRAFORM")
    if candidate:
        resolved = shutil.which(candidate) if os.sep not in candidate else candidate
        if resolved is None or not os.path.isfile(resolved) or not os.access(resolved, os.X_OK):
            raise IacError(
                f"terraform binary {candidate!r} (from --terraform or IAC_TERRAFORM) is not an executable file"
            )
        return resolved
    found = shutil.which("terraform")
    if found is None:
        raise IacError(
            "terraform not found on PATH: install Terraform 1.5 or newer, or give its path with --terraform PATH "
            "(or IAC_TERRAFORM)"
        )
    return found


def _command_builder(binary: str) -> Any:
    from python_terraform import Terraform

    class Builder(Terraform):  # type: ignore[misc]
        # iac never lets python-terraform read the state: it holds the HMAC secret.
        def read_state_file(self, file_path: str | None = None) -> None:
            self.tfstate = None

    return Builder(terraform_bin_path=binary)


@dataclass
class Terraform:
    """Terraform commands in one working directory, each non-interactive and with a state lock timeout."""

    binary: str
    working_dir: Path
    lock_timeout: str = DEFAULT_LOCK_TIMEOUT
    progress: Progress | None = None
    stop_timeout: float = STOP_TIMEOUT

    def __post_init__(self) -> None:
        self._builder = _command_builder(self.binary)

    def argv(self, command: str, *args: str, **options: Any) -> list[str]:
        from python_terraform import IsFlagged

        options = {key: IsFlagged if value is True else value for key, value in options.items()}
        argv: list[str] = self._builder.generate_cmd_string(command, *args, **options)
        # -chdir is a global option: it must come before the subcommand.
        return [argv[0], f"-chdir={self.working_dir}", *argv[1:]]

    def init(self, lockfile: str | None = None) -> None:
        """`terraform init`; `lockfile="readonly"` refuses to change `.terraform.lock.hcl` (the versions committed)."""
        self._run("init", input=False, no_color=True, lock_timeout=self.lock_timeout, lockfile=lockfile)

    def get(self) -> None:
        """`terraform get`: install the configuration's modules (local copies here); no provider, no backend."""
        self._run("get", no_color=True)

    def providers_lock(self, platforms: Sequence[str], fs_mirror: Path | None = None) -> None:
        """`terraform providers lock`: write the checksums of the providers `required_providers` asks for, for each
        of `platforms`, into `.terraform.lock.hcl`. It reads no state and needs no backend credentials; the
        packages come from their registry, or from the directory `fs_mirror` (`-fs-mirror`)."""
        self._run("providers lock", no_color=True, platform=list(platforms), fs_mirror=fs_mirror)

    def plan(self, plan_file: str) -> bool:
        """Write a plan to `plan_file`; True when it changes anything (-detailed-exitcode 2)."""
        # Terraform truncates an existing plan file and keeps its mode: one left by an older iac may be 0644.
        _private(self.working_dir / plan_file)
        result = self._run(
            "plan",
            input=False,
            no_color=True,
            lock_timeout=self.lock_timeout,
            out=plan_file,
            detailed_exitcode=True,
            ok_codes=(0, 2),
        )
        return result.code == 2

    def show_json(self, plan_file: str | None = None) -> dict[str, Any]:
        """`terraform show -json` of a saved plan, or of the current state without one: a JSON object.

        The state's JSON holds the HMAC secret: callers take what they need and keep nothing else.
        """
        args = (plan_file,) if plan_file else ()
        result = self._run("show", *args, json=True, no_color=True, stream=False)
        return json_object(result.stdout, result.shown)

    def apply(self, plan_file: str) -> None:
        """Apply exactly the saved plan: Terraform asks no question for a plan file and re-plans nothing."""
        self._run("apply", plan_file, input=False, no_color=True, lock_timeout=self.lock_timeout)

    def outputs(self) -> dict[str, Any]:
        """The root module's output values (`terraform output -json`)."""
        result = self._run("output", json=True, no_color=True, stream=False)
        reader = TerraformJson("the outputs from `terraform output -json`")
        raw = json_object(result.stdout, result.shown)
        return {name: reader.item(item, dict, name).get("value") for name, item in raw.items()}

    def _run(
        self,
        command: str,
        *args: str,
        ok_codes: tuple[int, ...] = (0,),
        stream: bool = True,
        **options: Any,
    ) -> _Result:
        argv = self.argv(command, *args, **options)
        shown = " ".join(["terraform", *argv[2:]])
        if self.progress and stream:
            self.progress(f"$ {shown}")
        env = dict(os.environ, TF_IN_AUTOMATION="1", TF_INPUT="0")
        for name in _STATE_FILES:
            _private(self.working_dir / name)
        forwarder = _Forwarder(self.stop_timeout)
        result = None
        try:
            with forwarder:
                if not forwarder.received:
                    result = self._execute(argv, env, stream, forwarder)
        except IacError:
            if not forwarder.received:
                raise
        if forwarder.received or result is None:
            # Whatever Terraform exited with after the signal, the run was interrupted.
            raise forwarder.interrupted(shown)
        if result.code not in ok_codes:
            # A command whose stdout is its result (not streamed) may have printed the state: only stderr is shown.
            diagnostics = result.stderr if not stream else result.stderr or result.stdout
            raise TerraformError(shown, result.code, diagnostics, private_stdout=not stream)
        return _Result(result.code, result.stdout, result.stderr, shown)

    def _execute(self, argv: list[str], env: dict[str, str], stream: bool, forwarder: _Forwarder) -> _Result:
        try:
            # umask 077 in the child only: the plan, state and lock files Terraform creates are 0600. Its own
            # process group: a Ctrl-C on a terminal (or a CI runner signalling iac's group) reaches Terraform
            # only through iac, once; a second interrupt would make Terraform exit without releasing the lock.
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                text=True,
                encoding="utf-8",
                errors="replace",
                umask=_CHILD_UMASK,
                process_group=0,
            )
        except OSError as exc:
            raise IacError(f"cannot run {argv[0]}: {exc.strerror}") from None
        forwarder.attach(process)
        try:
            errors: list[str] = []
            reader = threading.Thread(target=lambda: errors.extend(process.stderr or ()), daemon=True)
            reader.start()
            lines: list[str] = []
            for line in process.stdout or ():
                lines.append(line)
                if self.progress and stream and line.strip():
                    self.progress(f"  {line.rstrip()}")
            code = process.wait()
            reader.join()
        except BaseException:
            # iac itself failed (its stderr closed, say): Terraform must not outlive the call holding the lock.
            _stop(process, self.stop_timeout, signal_it=not forwarder.forwarded)
            raise
        return _Result(code=code, stdout="".join(lines), stderr="".join(errors))


def _private(path: Path) -> None:
    """Take group and other permissions off `path` if it exists (best effort: it may not be iac's to change)."""
    with contextlib.suppress(OSError):
        mode = path.stat().st_mode & 0o7777
        if mode & 0o077:
            path.chmod(mode & ~0o077)


def _stop(process: subprocess.Popen[str], timeout: float, *, signal_it: bool) -> None:
    """Ask Terraform to stop (SIGTERM) and wait for it; kill it and its plugins after `timeout` seconds."""
    if process.poll() is not None:
        return
    if signal_it:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        process.wait()


@dataclass(frozen=True)
class _Result:
    code: int
    stdout: str
    stderr: str
    shown: str = ""
