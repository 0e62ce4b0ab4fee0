"""What Terraform prints is not trusted: its stdout can hold the state (and the HMAC secret), and its JSON can
be malformed. A failing or killed command is named with its stderr, never its stdout; malformed JSON is one
message; after a successful apply, a failure to read the outputs says the apply succeeded and what is left.

A fake Terraform (a Python script, given with --terraform) stands in: for each command (`init`, `plan`,
`show-state`, `show-plan`, `apply`, `output`) the environment says what it prints on stdout and stderr and
how it ends (an exit status, or KILL: it SIGKILLs itself after printing).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES

SECRET = "s3cr3t-hmac-Zq9"

FAKE_TERRAFORM = """\
#!{python}
import os, signal, sys, time
from pathlib import Path

args = sys.argv[1:]
chdir = Path(args.pop(0)[len("-chdir="):]) if args and args[0].startswith("-chdir=") else Path(".")
command = args[0] if args else ""
if command == "show":
    command = "show-plan" if any(not a.startswith("-") for a in args[1:]) else "show-state"
if command == "plan":
    out = next(a.split("=", 1)[1] for a in args if a.startswith("-out="))
    (chdir / out).write_bytes(b"a plan with a copy of the state")
key = command.upper().replace("-", "_")
sys.stdout.write(os.environ.get(f"FAKE_{{key}}_STDOUT", ""))
sys.stdout.flush()
sys.stderr.write(os.environ.get(f"FAKE_{{key}}_STDERR", ""))
sys.stderr.flush()
if os.environ.get(f"FAKE_{{key}}_STOP_IAC"):  # iac is stopped (a cancelled CI job) while this runs
    os.kill(os.getppid(), signal.SIGTERM)
    time.sleep(30)  # until iac passes the signal on
end = os.environ.get(f"FAKE_{{key}}_EXIT", "2" if command == "plan" else "0")
if end == "KILL":
    os.kill(os.getpid(), signal.SIGKILL)
sys.exit(int(end))
"""

STATE = {
    "format_version": "1.0",
    "values": {
        "root_module": {
            "resources": [
                {
                    "address": "random_password.hmac",
                    "mode": "managed",
                    "type": "google_storage_hmac_key",
                    "values": {"secret": SECRET},
                }
            ]
        }
    },
}
PLAN = {
    "format_version": "1.2",
    "resource_changes": [
        {
            "address": 'module.direct_access.google_compute_security_policy.allowlist["edge"]',
            "mode": "managed",
            "type": "google_compute_security_policy",
            "change": {"actions": ["update"]},
        }
    ],
    "output_changes": {
        "allowlist_ranges": {"actions": ["update"], "before": ["39.42.20.11/32"], "after": ["34.90.1.1/32"]}
    },
}
OUTPUTS = {
    "project_id": {"value": "my-gcp-project"},
    "url_map_name": {"value": "encord-da-url-map"},
    "domain": {"value": "data.acme.com"},
    "hmac_secret": {"value": SECRET, "sensitive": True},
}


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "terraform"
    path.write_text(FAKE_TERRAFORM.format(python=sys.executable))
    path.chmod(0o755)
    for key in ("SHOW_STATE", "SHOW_PLAN", "OUTPUT"):
        monkeypatch.delenv(f"FAKE_{key}_STDOUT", raising=False)
    monkeypatch.setenv("FAKE_SHOW_STATE_STDOUT", json.dumps(STATE))
    monkeypatch.setenv("FAKE_SHOW_PLAN_STDOUT", json.dumps(PLAN))
    monkeypatch.setenv("FAKE_OUTPUT_STDOUT", json.dumps(OUTPUTS))
    monkeypatch.delenv("IAC_TERRAFORM", raising=False)
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "iac.yaml"
    shutil.copyfile(EXAMPLES / "documented" / "iac.yaml", path)
    return path


def run(cli, command: str, config: Path, fake: Path):  # type: ignore[no-untyped-def]
    extra = ["--auto-approve"] if command == "apply" else []
    return cli(command, "-c", config, "-o", config.parent / "build", "--terraform", fake, *extra)


# --- 16.14: stdout that can hold the state is never printed -------------------------------------------------


@pytest.mark.parametrize("stderr", ["", "Error: Failed to read the state lock\n"])
@pytest.mark.parametrize(
    ("command", "failing", "shown"),
    [
        ("plan", "SHOW_STATE", "terraform show -json -no-color"),
        ("plan", "SHOW_PLAN", "terraform show -json -no-color iac.tfplan"),
        ("apply", "OUTPUT", "terraform output -json -no-color"),
    ],
)
def test_a_command_that_prints_the_state_then_fails_is_named_with_its_stderr_only(
    cli, config: Path, fake: Path, monkeypatch: pytest.MonkeyPatch, command: str, failing: str, shown: str, stderr: str
) -> None:
    monkeypatch.setenv(f"FAKE_{failing}_STDOUT", json.dumps(STATE))
    monkeypatch.setenv(f"FAKE_{failing}_EXIT", "1")
    monkeypatch.setenv(f"FAKE_{failing}_STDERR", stderr)
    result = run(cli, command, config, fake)
    assert result.exit_code == (3 if failing == "OUTPUT" else 1)
    assert SECRET not in result.stdout
    assert SECRET not in result.stderr
    assert f"`{shown}` failed (exit status 1)" in result.stderr
    if stderr:
        assert "Error: Failed to read the state lock" in result.stderr
    else:
        assert "(its output, which can hold the state, is not shown)" in result.stderr


@pytest.mark.parametrize(("command", "failing"), [("plan", "SHOW_STATE"), ("apply", "OUTPUT")])
def test_a_command_killed_half_way_through_the_state_says_so_and_shows_none_of_it(
    cli, config: Path, fake: Path, monkeypatch: pytest.MonkeyPatch, command: str, failing: str
) -> None:
    half = json.dumps(STATE if failing == "SHOW_STATE" else OUTPUTS)
    monkeypatch.setenv(f"FAKE_{failing}_STDOUT", half[: half.index(SECRET) + len(SECRET)])
    monkeypatch.setenv(f"FAKE_{failing}_EXIT", "KILL")
    result = run(cli, command, config, fake)
    assert result.exit_code == (3 if failing == "OUTPUT" else 1)
    assert SECRET not in result.stdout + result.stderr
    assert "was killed by SIGKILL" in result.stderr
    assert "(its output, which can hold the state, is not shown)" in result.stderr


def test_a_plan_that_fails_still_shows_its_diagnostics(
    cli, config: Path, fake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plan and apply print progress, never the state: their failure text stays as Terraform wrote it."""
    monkeypatch.setenv("FAKE_PLAN_STDERR", "Error: Invalid value for variable\n")
    monkeypatch.setenv("FAKE_PLAN_EXIT", "1")
    result = run(cli, "plan", config, fake)
    assert result.exit_code == 1
    assert "`terraform plan -input=false" in result.stderr
    assert "Error: Invalid value for variable" in result.stderr


# --- 16.15: malformed JSON is one message --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failing", "printed", "message"),
    [
        ("SHOW_STATE", "garbage {", "`terraform show -json -no-color` did not print JSON"),
        ("SHOW_STATE", "[1, 2]", "`terraform show -json -no-color` printed a list, not a JSON object"),
        ("SHOW_STATE", '{"values": null}', "the state from `terraform show -json`: no object at values (found null)"),
        (
            "SHOW_STATE",
            '{"values": {"root_module": {"resources": [{"type": "google_compute_security_policy", "values": 7}]}}}',
            "the state from `terraform show -json`: no object at values.root_module.resources[0].values (found a",
        ),
        ("SHOW_PLAN", "garbage {", "`terraform show -json -no-color iac.tfplan` did not print JSON"),
        ("SHOW_PLAN", "[]", "`terraform show -json -no-color iac.tfplan` printed a list, not a JSON object"),
        (
            "SHOW_PLAN",
            '{"resource_changes": [{"address": "a.b", "type": "t", "mode": "managed"}]}',
            "the plan from `terraform show -json`: no object at resource_changes[0].change (found nothing)",
        ),
        (
            "SHOW_PLAN",
            '{"resource_changes": [{"address": "a.b", "type": "t", "change": {"actions": "update"}}]}',
            "the plan from `terraform show -json`: no list at resource_changes[0].change.actions (found a string)",
        ),
        (
            "SHOW_PLAN",
            '{"output_changes": []}',
            "the plan from `terraform show -json`: no object at output_changes (found a list)",
        ),
    ],
)
def test_malformed_json_from_terraform_is_one_message(
    cli, config: Path, fake: Path, monkeypatch: pytest.MonkeyPatch, failing: str, printed: str, message: str
) -> None:
    monkeypatch.setenv(f"FAKE_{failing}_STDOUT", printed)
    result = run(cli, "plan", config, fake)
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("error:") == 1


@pytest.mark.parametrize(
    ("printed", "message"),
    [
        ("garbage {", "`terraform output -json -no-color` did not print JSON"),
        ("[1, 2]", "`terraform output -json -no-color` printed a list, not a JSON object"),
        ('{"project_id": 7}', "the outputs from `terraform output -json`: no object at project_id (found a number)"),
    ],
)
def test_unreadable_outputs_after_a_successful_apply_say_it_succeeded_and_what_is_left(
    cli, config: Path, fake: Path, monkeypatch: pytest.MonkeyPatch, printed: str, message: str
) -> None:
    monkeypatch.setenv("FAKE_OUTPUT_STDOUT", printed)
    result = run(cli, "apply", config, fake)
    assert result.exit_code == 3, result.output
    assert message in result.stderr
    assert "the apply succeeded" in result.stderr
    assert f"iac invalidate -c {config} --path '/*'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (config.parent / "build" / "iac.tfplan").exists()


# --- issue 19.6: Terraform's words get one line of iac's own saying what to do -------------------------------


def test_no_credentials_for_the_state_backend_says_how_to_provide_them(
    cli, config: Path, fake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "FAKE_INIT_STDERR",
        "\nError: storage.NewClient() failed: dialing: google: could not find default credentials. See "
        "https://cloud.google.com/docs/authentication/external/set-up-adc for more information\n\n",
    )
    monkeypatch.setenv("FAKE_INIT_EXIT", "1")
    result = run(cli, "plan", config, fake)
    assert result.exit_code == 1
    assert "could not find default credentials" in result.stderr  # Terraform's words, kept
    [hint] = [line for line in result.stderr.splitlines() if line.startswith("iac: ")]
    assert "gcloud auth application-default login" in hint
    assert "GOOGLE_APPLICATION_CREDENTIALS" in hint


def test_an_unreachable_provider_registry_says_what_to_allow_or_use_instead(
    cli, config: Path, terraform: str, terraform_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real Terraform, whose provider mirror is a closed port on this machine: it cannot download the
    google provider, as on a runner without access to the registry. (No state backend: a real one would
    look for Google credentials off this machine.)"""
    import socket

    config = tmp_path / "local-state.yaml"
    shutil.copyfile(EXAMPLES / "existing-bucket" / "iac.yaml", config)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rc = tmp_path / "mirror.tfrc"
    rc.write_text(f'provider_installation {{\n  network_mirror {{ url = "https://127.0.0.1:{port}/" }}\n}}\n')
    for key, value in terraform_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(rc))
    result = cli("plan", "-c", config, "-o", tmp_path / "build", "--terraform", terraform)
    assert result.exit_code == 1
    assert "Failed to query available provider packages" in result.stderr
    [hint] = [line for line in result.stderr.splitlines() if line.startswith("iac: ")]
    assert "registry.terraform.io" in hint
    assert "provider_installation" in hint


def test_control_characters_in_terraforms_output_are_escaped(
    cli, config: Path, fake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Terraform quotes providers and APIs: what it prints reaches the terminal escaped (issue 16.16)."""
    monkeypatch.setenv("FAKE_PLAN_STDOUT", "Refreshing state... \x1b]0;owned\x07\n")
    monkeypatch.setenv("FAKE_PLAN_STDERR", "Error: googleapi: \x1b[2J forbidden\n")
    monkeypatch.setenv("FAKE_PLAN_EXIT", "1")
    result = run(cli, "plan", config, fake)
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "Refreshing state... \\x1b]0;owned\\x07" in result.stderr
    assert "Error: googleapi: \\x1b[2J forbidden" in result.stderr


def test_a_stop_while_the_outputs_are_read_after_apply_is_an_interruption(
    config: Path, fake: Path, tmp_path: Path
) -> None:
    """Only a failure to read the outputs becomes "the apply succeeded; what is left": a SIGTERM still stops
    iac with 143 (Terraform stopped, nothing left behind)."""
    import os
    import subprocess

    from conftest import ROOT

    env = dict(
        os.environ,
        FAKE_SHOW_STATE_STDOUT=json.dumps(STATE),
        FAKE_SHOW_PLAN_STDOUT=json.dumps(PLAN),
        FAKE_OUTPUT_STDOUT=json.dumps(OUTPUTS),
        FAKE_OUTPUT_STOP_IAC="1",
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    argv = [sys.executable, "-m", "iac", "apply", "-c", str(config), "-o", str(tmp_path / "build")]
    done = subprocess.run(
        [*argv, "--terraform", str(fake), "--auto-approve"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 143, done.stderr
    assert "interrupted by SIGTERM" in done.stderr
    assert "the apply succeeded; retry" not in done.stderr
