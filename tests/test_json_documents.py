"""`--json` is one honest document on every exit: every command that takes it, by the ways it can fail (a usage error
wherever `--json` stands, a bad number, no terraform, a signal) prints exactly one JSON document on stdout, with
`"ok": false`, the `exit_code` it exits with and the `error`. (Exit 3 of an apply: tests/test_apply.py.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from conftest import ROOT

HUGE = "9" * 5000


def one_document(text: str) -> dict[str, Any]:
    """The one JSON document `text` holds (nothing before or after it)."""
    decoder = json.JSONDecoder()
    document, end = decoder.raw_decode(text.lstrip())
    assert text.lstrip()[end:].strip() == "", f"more than one document: {text!r}"
    assert isinstance(document, dict)
    return document


def failure(result: Any, exit_code: int = 1) -> dict[str, Any]:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    document = one_document(result.stdout)
    assert document["ok"] is False
    assert document["exit_code"] == exit_code
    assert isinstance(document["error"], str) and document["error"]
    return document


# Each command that takes --json, with what it needs besides options (a CIDR, a file).
COMMANDS = [
    ("validate",),
    ("plan",),
    ("apply",),
    ("allowlist", "list"),
    ("allowlist", "add", "81.2.69.160"),
    ("allowlist", "remove", "81.2.69.160"),
    ("allowlist", "set", "--from", "-"),
    ("allowlist", "denied"),
    ("cors", "apply"),
    ("cors", "check"),
    ("doctor",),
    ("manifest", "generate"),
    ("manifest", "validate", "registration.json"),
]
IDS = ["-".join(command[:2]) for command in COMMANDS]


@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
@pytest.mark.parametrize("where", ["json-first", "json-last", "json-before-a-bad-value", "json-after-a-bad-value"])
def test_a_usage_error_is_one_document_wherever_json_stands(
    cli: Any, tmp_path: Path, command: tuple[str, ...], where: str
) -> None:
    bad = {
        "json-first": ["--json", "--bogus"],
        "json-last": ["--bogus", "--json"],
        "json-before-a-bad-value": ["--json", "-c", str(tmp_path)],  # a directory as the config file
        "json-after-a-bad-value": ["-c", str(tmp_path), "--json"],
    }[where]
    document = failure(cli(*command, *bad))
    assert "--bogus" in document["error"] or "is a directory" in document["error"]


@pytest.mark.parametrize(
    "args",
    [
        ["manifest", "validate", "--json"],
        ["allowlist", "add", "--json"],
        ["allowlist", "remove", "--json"],
        ["allowlist", "set", "--json"],
        ["allowlist", "--json", "add", "81.2.69.160"],
        ["allowlist", "denied", "--json", "--limit", "x"],
        ["allowlist", "denied", "--json", "--limit", HUGE],
        ["allowlist", "denied", "--json", "--limit", "\u0664"],  # Arabic-Indic four
        ["allowlist", "denied", "--limit", "100001", "--json"],
        ["manifest", "generate", "--json", "--jobs", "\u0664"],
        ["manifest", "generate", "--jobs", HUGE, "--json"],
        ["manifest", "generate", "--json", "--images-per-file", HUGE],
        ["manifest", "generate", "--json", "--videos-per-file", f"-{HUGE}"],
        ["nosuch", "--json"],
    ],
    ids=lambda args: " ".join(arg[:12] for arg in args),
)
def test_missing_arguments_and_bad_numbers_are_one_document(cli: Any, args: list[str]) -> None:
    failure(cli(*args))


def test_after_a_double_dash_json_is_an_argument(cli: Any) -> None:
    result = cli("allowlist", "add", "--", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--lock-timeout", "\u0663s", "not a duration"),  # Arabic-Indic three
        ("--lock-timeout", "99999999999999999999s", "too long; at most 8784h"),
    ],
)
def test_durations_take_ascii_digits_and_a_sane_maximum(
    cli: Any, example_config: Any, option: str, value: str, message: str
) -> None:
    config = example_config("documented")
    document = failure(cli("plan", "-c", config, "--json", option, value))
    assert f"{option} {value!r}: {message}" in document["error"]
    result = cli("render", "-c", config, option, value)
    assert result.exit_code == 1 and message in result.stderr
    assert not (config.parent / "build").exists()


@pytest.mark.parametrize("since", ["99999999999999999999s", f"{HUGE}d", "\u0663h"])
def test_since_takes_ascii_digits_and_a_sane_maximum(cli: Any, tmp_path: Path, since: str) -> None:
    from test_denied import write_config

    document = failure(cli("allowlist", "denied", "-c", write_config(tmp_path), "--since", since, "--json"))
    assert f"--since {since!r}"[:40] in document["error"]


@pytest.mark.parametrize(
    "command",
    [
        ("plan", "--auto-approve"),
        ("apply", "--auto-approve"),
        ("allowlist", "add", "81.2.69.161", "--apply", "--auto-approve"),
    ],
    ids=["plan", "apply", "allowlist-add-apply"],
)
def test_no_terraform_is_one_document_and_nothing_written(
    cli: Any, example_config: Any, tmp_path: Path, command: tuple[str, ...]
) -> None:
    config = example_config("documented")
    before = config.read_bytes()
    args = [arg for arg in command if not (command[0] == "plan" and arg == "--auto-approve")]
    document = failure(cli(*args, "-c", config, "--json", "--terraform", str(tmp_path / "no-terraform")))
    assert "terraform" in document["error"]
    assert config.read_bytes() == before
    assert not (config.parent / "build").exists()


# --- signals: through the `iac` program, as a cancelled CI job sees it ------------------------------------------


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_a_json_command_prints_its_failure_document(
    tmp_path: Path, compute_stub: HTTPServer, signum: signal.Signals, code: int
) -> None:
    from test_denied import write_config

    asked, release = threading.Event(), threading.Event()

    def hold(request: Request) -> Response:
        asked.set()
        release.wait(30)
        return Response("{}", content_type="application/json")

    compute_stub.expect_request("/v2/entries:list", method="POST").respond_with_handler(hold)
    env = dict(
        os.environ,
        IAC_LOGGING_API_ENDPOINT=f"http://127.0.0.1:{compute_stub.port}",
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "iac", "allowlist", "denied", "-c", str(write_config(tmp_path)), "--json"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=lambda: [signal.signal(s, signal.SIG_DFL) for s in (signal.SIGINT, signal.SIGTERM)],
    )
    try:
        assert asked.wait(30), "iac never asked the stand-in"
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        release.set()
        if process.poll() is None:
            process.kill()
            process.wait(30)
    assert process.returncode == code, stderr
    document = one_document(stdout.decode())
    assert (document["ok"], document["exit_code"]) == (False, code)
    assert document["error"].startswith(f"interrupted by {signum.name}")
    assert b"Traceback" not in stderr
