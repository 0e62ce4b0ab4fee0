"""The README's commands are code: every `iac` command it shows parses, and its rotation runs as written."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
import typer

from conftest import EXAMPLES, ROOT

README = ROOT / "README.md"


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def iac_commands(block: str) -> list[list[str]]:
    """Each `iac ...` command of a shell block, as its arguments (comments dropped, `&&` chains split)."""
    found = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        command: list[str] = []
        for word in [*words, "&&"]:
            if word in ("&&", "||", ";", "|"):
                if command and Path(command[0]).name == "iac":
                    found.append(command[1:])
                command = []
            else:
                command.append(word)
    return found


def all_commands() -> list[list[str]]:
    return [command for block in shell_blocks() for command in iac_commands(block)]


def test_the_readme_shows_the_commands_of_every_section() -> None:
    shown = {" ".join(command[:2]) for command in all_commands()}
    for expected in ("render -c", "allowlist add", "allowlist set", "allowlist denied", "cors check", "doctor"):
        assert any(line.startswith(expected) for line in shown), expected


@pytest.mark.parametrize("args", all_commands(), ids=lambda args: " ".join(args))
def test_every_iac_command_in_the_readme_parses(args: list[str]) -> None:
    """Options that exist, values where they take one, arguments in number: Click's own parser says so."""
    from iac.cli import app

    command = typer.main.get_command(app)
    rest = list(args)
    while hasattr(command, "commands"):  # a group: the next word names the command
        name, *rest = rest
        assert name in command.commands, f"iac has no command {name!r}"
        command = command.commands[name]
    command.make_context(name, rest, resilient_parsing=False)  # raises Click's usage error


def rotation_block() -> str:
    return next(block for block in shell_blocks() if "iac allowlist add 34.90.1.1 --dry-run" in block)


def test_the_rotation_example_runs_as_written(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The "Rotating the allowlist" commands, on Encord's documented example: every one but the --apply."""
    shutil.copyfile(EXAMPLES / "documented" / "iac.yaml", tmp_path / "iac.yaml")
    (tmp_path / "vpn-egress.txt").write_text("# VPN egress\n34.90.1.1\n81.2.69.160/28\n39.42.20.11\n")
    monkeypatch.chdir(tmp_path)
    ran = 0
    for args in iac_commands(rotation_block()):
        if "--apply" in args:
            continue  # needs Terraform and Google: tests/test_review_flow.py runs that flow on built-in resources
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)
        ran += 1
    assert ran >= 6
    text = (tmp_path / "iac.yaml").read_text()
    assert "  - 81.2.69.160/28" in text and "130.192.120.23/32" not in text
    assert (tmp_path / "build" / "main.tf").is_file()
    assert cli("render", "--check").exit_code == 0
