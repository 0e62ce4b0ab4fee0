"""The command line as a user meets it: help, version, init, validate."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from conftest import EXAMPLES, ok
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
    # No real-looking address a user could leave in by mistake: the allowlist starts empty ...
    assert re.findall(r"\b\d{1,3}(\.\d{1,3}){3}\b", text) == []
    # ... and validation says what to add.
    checked = cli("validate", "-c", config)
    assert checked.exit_code == 1
    assert f"{config}:" in checked.stderr and "allowlist: is empty: list at least one address" in checked.stderr
    config.write_text(text.replace("allowlist: []", "allowlist:\n  - 34.90.1.1/32"))
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


# Cloud clients are imported by the commands that call a cloud; pydantic by none (Typer would, to check option
# values: iac checks its own, issue 17); Terraform's runner and the Cloud Logging reader only when they run.
CLOUD = ("google.cloud", "boto3", "botocore", "azure", "obs", "encord")
NOT_FOR_RENDER = (
    *CLOUD,
    "pydantic",
    "iac.terraform.runner",
    "iac.gcp.denied",
    "iac.gcp.invalidate",
    "iac.gcp.credentials",
)
# --help reads no config and renders nothing.
NOT_FOR_HELP = (*NOT_FOR_RENDER, "yaml", "jinja2", "iac.config.")


def test_help_imports_no_cloud_client_library() -> None:
    code = (
        "import sys\n"
        "from iac.cli import app\n"
        "try:\n    app(['render', '--help'])\nexcept SystemExit:\n    pass\n"
        f"heavy = [m for m in sys.modules if m.startswith({NOT_FOR_HELP!r})]\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_manifest_help_imports_no_cloud_client_library() -> None:
    # `iac manifest --help` lists `register` without importing Encord's SDK (nearly a second, 17 packages).
    code = (
        "import sys\n"
        "from iac.cli import app\n"
        "for args in (['--help'], ['manifest', '--help'], ['manifest', 'register', '--help']):\n"
        "    try:\n        app(args)\n    except SystemExit:\n        pass\n"
        f"heavy = [m for m in sys.modules if m.startswith({NOT_FOR_HELP!r})]\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "register" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_render_imports_no_cloud_client_library(tmp_path: Path) -> None:
    args = ["render", "-c", str(EXAMPLES / "documented" / "iac.yaml"), "-o", str(tmp_path / "b")]
    code = (
        "import sys\n"
        "from iac.cli import app\n"
        f"try:\n    app({args!r})\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
        f"heavy = [m for m in sys.modules if m.startswith({NOT_FOR_RENDER!r})]\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "b" / "serving" / "main.tf").is_file()
    assert (tmp_path / "b" / "allowlist" / "main.tf").is_file()


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
        ("manifest", "register"),
    ],
)
def test_subcommands_have_help_with_an_example(cli, command: tuple[str, str]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0
    assert f"Example: iac {command[0]} {command[1]}" in result.stdout


# --- errors become exit codes in one place: IacGroup ---------------------------------------------------------------


def probe_app() -> typer.Typer:
    """An app built like iac's, whose commands raise each kind of IacError (one inside a command group)."""
    from iac.cli.group import IacCommand, IacGroup, command_group
    from iac.errors import ConfigError, IacError, Interrupted
    from iac.gcp.invalidate import InvalidationError

    errors: dict[str, IacError] = {
        "plain": IacError("something is wrong\nwith its own second line"),
        "config": ConfigError(["a.yaml:1: project: is required", "a.yaml:2: x: unknown key"]),
        "one-problem": ConfigError(["a.yaml:1: project: is required"]),
        "invalidation": InvalidationError("the URL map was not found"),
        "interrupted": Interrupted(signal.SIGTERM, "Terraform was stopped"),
    }
    app = typer.Typer(cls=IacGroup, add_completion=False, pretty_exceptions_enable=False)

    @app.command(cls=IacCommand)
    def fail(kind: str) -> None:
        typer.echo("started")
        raise errors[kind]

    group = command_group("A group.", example="probe group fail plain")

    @group.command("fail", cls=IacCommand)
    def group_fail(kind: str) -> None:
        typer.echo("started")
        raise errors[kind]

    app.add_typer(group, name="group")
    return app


@pytest.mark.parametrize(
    ("kind", "exit_code", "stderr"),
    [
        ("plain", 1, "error: something is wrong\nwith its own second line\n"),
        (
            "config",
            1,
            "error: a.yaml:1: project: is required\nerror: a.yaml:2: x: unknown key\n"
            "error: 2 problems; nothing was written\n",
        ),
        ("one-problem", 1, "error: a.yaml:1: project: is required\nerror: 1 problem; nothing was written\n"),
        ("invalidation", 3, "error: the URL map was not found\n"),
        ("interrupted", 143, "error: interrupted by SIGTERM: Terraform was stopped\n"),
    ],
)
def test_an_iac_error_in_a_command_is_its_message_and_exit_code(kind: str, exit_code: int, stderr: str) -> None:
    from typer.testing import CliRunner

    app = probe_app()
    for args in (["fail", kind], ["group", "fail", kind]):
        result = CliRunner().invoke(app, args, catch_exceptions=False)
        assert result.exit_code == exit_code, args
        assert result.stdout == "started\n", "what the command printed before stays"
        assert result.stderr == stderr, args
        assert "Traceback" not in result.output


def test_the_script_reports_an_iac_error_as_the_runner_does(tmp_path: Path) -> None:
    """`python -m iac` (the installed `iac` calls the same main): a ConfigError's lines and exit status 1."""
    config = tmp_path / "bad.yaml"
    config.write_text((EXAMPLES / "documented" / "iac.yaml").read_text().replace("project: my-gcp-project\n", ""))
    done = subprocess.run(
        [sys.executable, "-m", "iac", "validate", "-c", str(config)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert (
        done.stderr == f"error: {config}:1: project: is required\nerror: 1 problem\n"
    )  # validate writes nothing anyway


def test_the_script_exits_3_when_the_invalidation_fails(tmp_path: Path, compute_stub) -> None:
    config = tmp_path / "iac.yaml"
    shutil.copyfile(EXAMPLES / "documented" / "iac.yaml", config)
    compute_stub.expect_request(
        "/compute/v1/projects/my-gcp-project/global/urlMaps/encord-da-url-map/invalidateCache", method="POST"
    ).respond_with_json({"error": {"code": 404, "message": "The URL map was not found", "errors": []}}, status=404)
    env = dict(os.environ, IAC_GCP_API_ENDPOINT=f"http://127.0.0.1:{compute_stub.port}")
    done = subprocess.run(
        [sys.executable, "-m", "iac", "invalidate", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == 3, done.stderr
    assert "error: CDN cache invalidation failed: " in done.stderr and "The URL map was not found" in done.stderr
    assert f"error: retry the invalidation with: iac invalidate -c {config} --path '/*'\n" in done.stderr
    assert "Traceback" not in done.stderr


# --- --help: Click's conventions -----------------------------------------------------------------------------------


def command_paths() -> list[list[str]]:
    """Every command and group of `iac`, as the arguments that name it."""
    from iac.cli import app

    def walk(command: object, path: list[str]) -> list[list[str]]:
        found = [path]
        for name, sub in getattr(command, "commands", {}).items():
            found += walk(sub, [*path, name])
        return found

    return walk(typer.main.get_command(app), [])


def test_command_paths_cover_every_command() -> None:
    paths = [" ".join(path) for path in command_paths()]
    assert {
        "",
        "render",
        "doctor",
        "allowlist",
        "allowlist add",
        "allowlist denied",
        "manifest validate",
        "lock",
        "schema",
    } <= set(paths)
    assert len(paths) == 26  # `hmac`, `hmac rotate`, `lock`, `manifest register` and `schema` included


@pytest.mark.parametrize("path", command_paths(), ids=lambda path: " ".join(path) or "iac")
def test_help_shows_no_type_for_a_flag_and_has_an_example(cli, path: list[str]) -> None:
    result = cli(*path, "--help")
    assert result.exit_code == 0
    assert "<bool>" not in result.stdout
    assert "--help" in result.stdout
    assert "Example: iac" in result.stdout


@pytest.mark.parametrize("path", command_paths(), ids=lambda path: " ".join(path) or "iac")
def test_help_examples_follow_the_pull_request_flow(cli, path: list[str]) -> None:
    """Only `iac apply` may show --auto-approve: an edit applied from a runner skips the review (issue 27.6)."""
    example = cli(*path, "--help").stdout.split("Example:", 1)[1].split("\n\n", 1)[0]
    assert ("--auto-approve" in example) == (path == ["apply"]), example


def test_the_top_level_example_works_as_written_in_a_fresh_directory(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shlex

    monkeypatch.chdir(tmp_path)
    example = " ".join(cli("--help").stdout.split("Example:", 1)[1].split("\n\n", 1)[0].split())
    for step in example.split("&&"):
        argv = shlex.split(step)
        assert argv[0] == "iac", example
        ok(cli(*argv[1:]))
    assert (tmp_path / "build" / "serving" / "main.tf").is_file()
    assert "81.2.69.160/28" in (tmp_path / "build" / "allowlist" / "main.tf").read_text()


# What a help placeholder must not be: a Python type (`<list[str]>`, `<int range>`, `[x>=1]`) or a parameter's
# Python name (`{cidrs}...`); nor a count with "(s)".
NOT_A_WORD = re.compile(r"<[a-z][\w\[\], |]*>|\[x[<>]=|\{[A-Za-z_]+\}|\w\(s\)|Input should")
# An option and its placeholder as Click lists them: `--name WORD` (WORD in capitals, may hold `:` or `_`).
OPTION_WITH_VALUE = re.compile(r"^\s+(?:-\w, )?(--[\w-]+) ([A-Z][A-Z_:]*)(?:\s|$)", re.MULTILINE)


@pytest.mark.parametrize("path", command_paths(), ids=lambda path: " ".join(path) or "iac")
@pytest.mark.parametrize("width", [40, 80, 200])
def test_help_placeholders_are_words_never_broken(cli, path: list[str], width: int) -> None:
    import typer

    from iac.cli import app

    text = help_text(cli, path, width)
    assert NOT_A_WORD.findall(text) == []
    # Every option that takes a value shows a placeholder word, on the option's own line.
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    takes_value = {
        opt
        for param in command.params
        if not getattr(param, "is_flag", False) and param.param_type_name == "option"
        for opt in param.opts
        if opt.startswith("--")
    }
    shown = dict(OPTION_WITH_VALUE.findall(text))
    assert takes_value <= set(shown), f"no placeholder for {sorted(takes_value - set(shown))}"
    if path == ["doctor"]:
        assert shown["--connect-to"] == "HOST:PORT:CONNECT_HOST:CONNECT_PORT"


def help_text(cli, path: list[str], width: int) -> str:
    """`iac PATH --help` on a terminal `width` columns wide (Click's test runner otherwise fixes 80)."""
    from iac.cli import app

    result = cli.runner.invoke(app, [*path, "--help"], terminal_width=width, obj=cli.services)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_help_paragraphs_are_wrapped_by_the_terminal(cli) -> None:
    # The docstrings break these lines after "then invalidate the CDN cache" and after "their default".
    summary = "Render, init, plan to a file, confirm, apply exactly that plan, then invalidate the CDN cache if the"
    assert f" {summary} allowlist changed." in help_text(cli, ["apply"], 200)
    assert "then invalidate the CDN cache if the allowlist changed." in help_text(cli, [], 200)
    wide = help_text(cli, ["render"], 200)
    assert "the policies with their default deny rule) and DIR/allowlist/" in wide
    assert max(len(line.rstrip()) for line in wide.splitlines()) > 150
    narrow = help_text(cli, ["render"], 80)
    assert max(len(line) for line in narrow.splitlines()) <= 80
    assert "\n  Example: iac render -c iac.yaml -o build/" in narrow, "the example keeps a line of its own"


def test_help_is_as_wide_as_the_terminal() -> None:
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "iac", "apply", "--help"], capture_output=True, text=True, env=env, check=True
    )
    assert "then invalidate the CDN cache if the allowlist changed." in done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) > 150


def test_the_list_of_commands_shows_each_summary_whole(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first paragraph of each command's help, on one line however the docstring breaks it, not cut short."""
    monkeypatch.setenv("COLUMNS", "80")
    listing = " ".join(cli("allowlist", "--help").stdout.split())
    assert "add Add addresses to the allowlist. An address already allowed is reported and not added again." in listing
    assert "..." not in cli("--help").stdout.split("Commands:")[1]


def test_usage_errors_exit_1_for_iac_only() -> None:
    """iac's usage errors exit 1 (2 is `iac plan`'s "changes"), without changing Click for other apps in the process."""
    from typer.testing import CliRunner

    import iac.cli

    other = typer.Typer()

    @other.command()
    def hello(name: str) -> None:
        typer.echo(name)

    result = CliRunner().invoke(other, ["--frobnicate"])
    assert result.exit_code == 2, "another Typer/Click app keeps Click's usage exit status"
    for args in (["plan", "--frobnicate"], ["no-such-command"], ["allowlist", "add"]):
        assert CliRunner().invoke(iac.cli.app, args).exit_code == 1, args


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--jobs", "many"],
            "Invalid value for '--jobs' / '-j': 'many' is not a whole number: write it with the digits 0-9",
        ),
        (["--jobs", "2.5"], "Invalid value for '--jobs' / '-j': '2.5' is not a whole number"),
        (
            ["--images-per-file", "0"],
            "Invalid value for '--images-per-file': '0' is below the minimum: give at least 1",
        ),
        (["-c", "."], "Invalid value for '-c' / '--config' (env var: 'IAC_CONFIG'): file '.' is a directory."),
    ],
)
def test_option_values_are_checked_as_typer_checks_them(cli, tmp_path: Path, args: list[str], expected: str) -> None:
    """iac checks option values itself (Typer would import pydantic for it): the same checks and words, exit 1."""
    result = cli("manifest", "generate", "-o", tmp_path / "m", *args)
    assert result.exit_code == 1, result.output
    assert expected in result.stderr
    assert not (tmp_path / "m").exists()


def test_paths_and_lists_reach_the_command_as_values(cli, tmp_path: Path) -> None:
    """A list of CIDRs arrives as the list, -c as the file: a dry-run edit shows what it was given."""
    config = tmp_path / "iac.yaml"
    shutil.copyfile(EXAMPLES / "documented" / "iac.yaml", config)
    result = cli("allowlist", "add", "-c", config, "--dry-run", "--json", "81.2.69.160/28", "81.2.69.192")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["added"] == ["81.2.69.160/28", "81.2.69.192/32"]
