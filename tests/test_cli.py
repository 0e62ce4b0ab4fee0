"""The command line as a user meets it: help, version, init, validate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES
from iac import __version__


def test_version(cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"iac {__version__}"


@pytest.mark.parametrize("command", ["render", "validate", "init", "plan", "apply", "invalidate"])
def test_every_command_has_help_with_an_example(cli, command: str) -> None:
    for flag in ("--help", "-h"):
        result = cli(command, flag)
        assert result.exit_code == 0
        assert f"Example: iac {command}" in result.stdout


def test_top_level_help_documents_exit_codes(cli) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("render", "validate", "init"):
        assert command in result.stdout
    text = " ".join(result.stdout.split())
    assert "Exit status: 0 success; 1 invalid input, usage error or failure" in text
    assert "2 `iac plan` found changes; 3 the CDN cache invalidation failed" in text


def test_unknown_option_is_a_usage_error_with_exit_1(cli) -> None:
    # Exit 2 means "changes planned" for iac plan, so a typo must not produce it.
    result = cli("plan", "--frobnicate")
    assert result.exit_code == 1
    assert "No such option: --frobnicate" in result.output


def test_init_writes_a_starter_that_validates_and_renders(cli, tmp_path: Path) -> None:
    config = tmp_path / "iac.yaml"
    result = cli("init", config)
    assert result.exit_code == 0
    text = config.read_text()
    assert text.count("#") > 10, "the starter config explains itself"
    assert cli("validate", "-c", config).exit_code == 0
    assert cli("render", "-c", config, "-o", tmp_path / "build").exit_code == 0


def test_init_never_overwrites_without_force(cli, tmp_path: Path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text("mine\n")
    result = cli("init", config)
    assert result.exit_code == 1
    assert "already exists; use --force" in result.stderr
    assert config.read_text() == "mine\n"
    assert cli("init", config, "--force").exit_code == 0
    assert config.read_text() != "mine\n"


def test_validate_json_for_pipelines(cli) -> None:
    result = cli("validate", "-c", EXAMPLES / "large-allowlist" / "iac.yaml", "--json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["valid"] is True
    rules = document["allowlist"]["rules"]
    assert len(rules) == 120 and all(len(r) == 10 for r in rules[:-1]) and len(rules[-1]) == 8
    assert [r for rule in rules for r in rule] == document["allowlist"]["ranges"]


def test_validate_json_reports_problems(cli, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text((EXAMPLES / "documented" / "iac.yaml").read_text().replace("39.42.20.11/32", "10.0.0.1"))
    result = cli("validate", "-c", config, "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["valid"] is False
    assert any("allowlist[0]" in p and "10.0.0.0/8" in p for p in document["problems"])


def test_config_from_environment(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAC_CONFIG", str(EXAMPLES / "existing-bucket" / "iac.yaml"))
    result = cli("validate")
    assert result.exit_code == 0
    assert "existing-bucket" in result.stdout


def test_help_imports_no_cloud_client_library() -> None:
    code = (
        "import sys\n"
        "from iac.cli import app\n"
        "try:\n    app(['render', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in sys.modules if m.startswith(('google.cloud', 'boto3', 'botocore', 'azure', 'obs'))]\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_render_imports_no_cloud_client_library(tmp_path: Path) -> None:
    args = ["render", "-c", str(EXAMPLES / "documented" / "iac.yaml"), "-o", str(tmp_path / "b")]
    code = (
        "import sys\n"
        "from iac.cli import app\n"
        f"try:\n    app({args!r})\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "heavy = [m for m in sys.modules if m.startswith(('google.cloud', 'boto3', 'botocore', 'azure', 'obs'))]\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "b" / "main.tf").is_file()


@pytest.mark.parametrize(
    "command",
    [
        ("allowlist", "list"),
        ("allowlist", "add"),
        ("allowlist", "remove"),
        ("allowlist", "set"),
        ("cors", "render"),
        ("cors", "apply"),
        ("cors", "check"),
    ],
)
def test_subcommands_have_help_with_an_example(cli, command: tuple[str, str]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0
    assert f"Example: iac {command[0]} {command[1]}" in result.stdout
