"""Terraform for pipelines: the one module that runs it, never interactively, never waiting on stdin.

Command lines are built by python-terraform (`generate_cmd_string`). Its execution path is not used,
because python-terraform 0.10.1 inherits stdin (a prompt would hang a pipeline), cannot stream output
while capturing it, leaks `synchronous=False` as a flag, sends `-auto-approve=false`/`-force` from
apply()/destroy(), raises TypeError from output("name"), logs through the deprecated `log.warn`, and
reads the local state (which holds the HMAC secret) into memory after every command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iac.errors import IacError

Progress = Callable[[str], None]

DEFAULT_LOCK_TIMEOUT = "300s"
# Diagnostics longer than this are cut from the middle: the first and last lines say what went wrong.
_MAX_DIAGNOSTIC_LINES = 60


class TerraformError(IacError):
    """A Terraform command failed; the message keeps Terraform's own diagnostic text."""

    def __init__(self, command: str, code: int, diagnostics: str) -> None:
        self.command = command
        self.code = code
        self.diagnostics = diagnostics
        text = _shorten(diagnostics.strip()) or "(Terraform printed no diagnostic)"
        super().__init__(f"`{command}` failed (exit status {code}):\n{text}")


def _shorten(text: str) -> str:
    lines = text.splitlines()
    if len(lines) <= _MAX_DIAGNOSTIC_LINES:
        return text
    half = _MAX_DIAGNOSTIC_LINES // 2
    return "\n".join([*lines[:half], f"... ({len(lines) - 2 * half} lines omitted) ...", *lines[-half:]])


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

    def __post_init__(self) -> None:
        self._builder = _command_builder(self.binary)

    def argv(self, command: str, *args: str, **options: Any) -> list[str]:
        from python_terraform import IsFlagged

        options = {key: IsFlagged if value is True else value for key, value in options.items()}
        argv: list[str] = self._builder.generate_cmd_string(command, *args, **options)
        # -chdir is a global option: it must come before the subcommand.
        return [argv[0], f"-chdir={self.working_dir}", *argv[1:]]

    def init(self) -> None:
        self._run("init", input=False, no_color=True, lock_timeout=self.lock_timeout)

    def plan(self, plan_file: str) -> bool:
        """Write a plan to `plan_file`; True when it changes anything (-detailed-exitcode 2)."""
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

    def show_json(self, plan_file: str) -> dict[str, Any]:
        result = self._run("show", plan_file, json=True, no_color=True, stream=False)
        try:
            document: dict[str, Any] = json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise IacError(f"`terraform show -json {plan_file}` did not print JSON ({exc})") from None
        return document

    def apply(self, plan_file: str) -> None:
        """Apply exactly the saved plan: Terraform asks no question for a plan file and re-plans nothing."""
        self._run("apply", plan_file, input=False, no_color=True, lock_timeout=self.lock_timeout)

    def outputs(self) -> dict[str, Any]:
        result = self._run("output", json=True, no_color=True, stream=False)
        raw: dict[str, dict[str, Any]] = json.loads(result.stdout or "{}")
        return {name: item.get("value") for name, item in raw.items()}

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
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                text=True,
                encoding="utf-8",
                errors="replace",
            )
        except OSError as exc:
            raise IacError(f"cannot run {argv[0]}: {exc.strerror}") from None

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
        result = _Result(code=code, stdout="".join(lines), stderr="".join(errors))
        if code not in ok_codes:
            raise TerraformError(shown, code, result.stderr or result.stdout)
        return result


@dataclass(frozen=True)
class _Result:
    code: int
    stdout: str
    stderr: str
