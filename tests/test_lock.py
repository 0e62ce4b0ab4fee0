"""`iac lock`: the provider lock file, with checksums for every platform that runs Terraform, written without
credentials before the first CI run; and `--lockfile readonly` without one, refused before Terraform runs."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from test_apply import CONFIG

from conftest import EXAMPLES

VERSION = "6.50.0"
# Each root module of the rendering has its own lock file.
ROOTS = ("serving", "allowlist")
PLATFORMS = ("linux_amd64", "darwin_arm64", "darwin_amd64", "linux_arm64", "windows_amd64")


def provider_package(platform: str) -> bytes:
    """A provider package as the registry serves it (a zip holding the plugin binary), different per platform."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr(f"terraform-provider-google_v{VERSION}_x5", f"not really a provider, for {platform}\n")
    return buffer.getvalue()


def h1(package: bytes) -> str:
    """Terraform's `h1:` checksum of a package: a SHA-256 over the SHA-256 and name of each file in it."""
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        lines = "".join(
            f"{hashlib.sha256(archive.read(name)).hexdigest()}  {name}\n" for name in sorted(archive.namelist())
        )
    return "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """A filesystem mirror (packed layout) holding hashicorp/google for every platform of PLATFORMS."""
    root = tmp_path / "mirror"
    where = root / "registry.terraform.io" / "hashicorp" / "google"
    where.mkdir(parents=True)
    for platform in PLATFORMS:
        (where / f"terraform-provider-google_{VERSION}_{platform}.zip").write_bytes(provider_package(platform))
    return root


@pytest.fixture
def terraform_env_set(monkeypatch: pytest.MonkeyPatch, terraform: str, terraform_env: dict[str, str]) -> None:
    for key, value in terraform_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("IAC_TERRAFORM", terraform)
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CREDENTIALS", "GOOGLE_OAUTH_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def locked_hashes(lock_file: Path) -> set[str]:
    text = lock_file.read_text()
    assert f'provider "registry.terraform.io/hashicorp/google" {{\n  version     = "{VERSION}"' in text
    return {line.strip().strip('",') for line in text.splitlines() if line.strip().startswith('"h1:')}


@pytest.mark.terraform
def test_lock_writes_checksums_for_the_default_platforms_and_each_extra_one(
    cli, tmp_path: Path, mirror: Path, terraform_env_set: None
) -> None:
    """The documented example has a GCS state backend: no credentials are set, and none are needed."""
    config = tmp_path / "iac.yaml"
    shutil.copyfile(EXAMPLES / "documented" / "iac.yaml", config)
    out = tmp_path / "build"
    result = cli("lock", "-c", config, "-o", out, "--fs-mirror", mirror, "--platform", "linux_arm64", "--json")
    assert result.exit_code == 0, result.output
    wanted = ("linux_amd64", "darwin_arm64", "darwin_amd64", "linux_arm64")
    for root in ROOTS:
        assert locked_hashes(out / root / ".terraform.lock.hcl") == {h1(provider_package(p)) for p in wanted}, root
    assert not (out / ".terraform.lock.hcl").exists(), "no lock file at the top: Terraform runs in the roots"
    document = json.loads(result.stdout)
    assert document == {
        "ok": True,
        "lock_file": str(out / "serving" / ".terraform.lock.hcl"),
        "lock_files": [str(out / root / ".terraform.lock.hcl") for root in ROOTS],
        "platforms": list(wanted),
        "providers": [{"source": "registry.terraform.io/hashicorp/google", "version": VERSION, "checksums": 4}],
    }
    # Rendered first, as `iac render` would; then in each root only `get` and `providers lock`: never init, never
    # the backend.
    commands = [line.removeprefix("$ terraform ") for line in result.stderr.splitlines() if line.startswith("$ ")]
    assert [c.split(" -")[0] for c in commands] == ["get", "providers lock"] * len(ROOTS)
    for command in commands[1::2]:
        assert "-platform=linux_amd64 -platform=darwin_arm64 -platform=darwin_amd64 -platform=linux_arm64" in command
    for root in ROOTS:
        assert (out / root / "backend.tf").is_file()
        assert not (out / root / ".terraform" / "terraform.tfstate").exists(), "no backend was configured"

    # The lock files are Terraform's: re-rendering keeps them, and `render --check` accepts them.
    before = {root: (out / root / ".terraform.lock.hcl").read_bytes() for root in ROOTS}
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    assert cli("render", "-c", config, "-o", out, "--check").exit_code == 0
    assert {root: (out / root / ".terraform.lock.hcl").read_bytes() for root in ROOTS} == before


@pytest.mark.terraform
def test_lock_again_adds_a_platform_and_keeps_the_rest(
    cli, tmp_path: Path, mirror: Path, terraform_env_set: None
) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "build"
    first = cli("lock", "-c", config, "-o", out, "--fs-mirror", mirror)
    assert first.exit_code == 0, first.output
    assert "3 checksums), for linux_amd64, darwin_arm64, darwin_amd64." in first.stdout
    assert f"git add {out / 'serving' / '.terraform.lock.hcl'} {out / 'allowlist' / '.terraform.lock.hcl'}\n" in (
        first.stdout
    )
    again = cli("lock", "-c", config, "-o", out, "--fs-mirror", mirror, "--platform", "windows_amd64")
    assert again.exit_code == 0, again.output
    wanted = ("linux_amd64", "darwin_arm64", "darwin_amd64", "windows_amd64")
    for root in ROOTS:
        assert locked_hashes(out / root / ".terraform.lock.hcl") == {h1(provider_package(p)) for p in wanted}, root


@pytest.mark.parametrize("value", ["linux-amd64", "Linux_amd64", "linux", "linux_amd64_v2", "", "linux_amd64 "])
def test_a_bad_platform_is_one_message_and_nothing_runs(cli, tmp_path: Path, terraform_runs: Path, value: str) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "build"
    result = cli("lock", "-c", config, "-o", out, "--platform", "darwin_arm64", "--platform", value)
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        f"error: --platform {value!r}: not a platform: write OS_ARCH as Terraform names it, lowercase, e.g. "
        "linux_arm64 or windows_amd64\n"
    )
    assert not out.exists() and not terraform_runs.exists()


def test_a_missing_mirror_is_refused_before_anything_runs(cli, tmp_path: Path, terraform_runs: Path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    result = cli("lock", "-c", config, "-o", tmp_path / "build", "--fs-mirror", tmp_path / "nowhere", "--json")
    assert result.exit_code == 1
    assert "not a directory of provider packages" in json.loads(result.stdout)["error"]
    assert not (tmp_path / "build").exists() and not terraform_runs.exists()


@pytest.mark.parametrize("where", ["", "serving/", "allowlist/"])
def test_lock_refuses_an_extra_file_before_terraform_runs(
    cli, rendered_build, terraform_runs: Path, where: str
) -> None:
    config, out = rendered_build
    (out / where / "providers_override.tf").write_text("# another provider source\n")
    result = cli("lock", "-c", config, "-o", out)
    assert result.exit_code == 1
    assert f"error: {where}providers_override.tf: not rendered by iac" in result.stderr
    assert not terraform_runs.exists()


# --- --lockfile readonly without a lock file ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "locked", "missing"),
    [
        (("plan",), (), "serving"),
        (("plan",), ("serving",), "allowlist"),
        (("plan", "--only", "allowlist"), ("serving",), "allowlist"),
        (("plan", "--only", "serving"), ("allowlist",), "serving"),
        (("apply", "--auto-approve"), ("allowlist",), "serving"),
        (("apply", "--auto-approve"), ("serving",), "allowlist"),
        # An allowlist edit runs allowlist/ only: its lock file is the one needed.
        (("allowlist", "add", "34.93.0.1", "--apply", "--auto-approve"), ("serving",), "allowlist"),
    ],
    ids=lambda value: " ".join(value[:3]) if isinstance(value, tuple) else str(value),
)
def test_readonly_without_a_lock_file_names_iac_lock_before_terraform_runs(
    cli,
    rendered_build,
    terraform_runs: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[str, ...],
    locked: tuple[str, ...],
    missing: str,
) -> None:
    """Refused naming the lock file missing in a root the command runs, whatever the other root holds."""
    config, out = rendered_build
    for root in locked:
        (out / root / ".terraform.lock.hcl").write_text("# committed\n")
    monkeypatch.setenv("IAC_LOCKFILE", "readonly")
    result = cli(*command, "-c", config, "-o", out)
    assert result.exit_code == 1, result.output
    assert f"{out / missing / '.terraform.lock.hcl'}: missing, and --lockfile readonly" in result.stderr
    assert f"`iac lock -c {config} -o {out}`" in result.stderr
    assert not terraform_runs.exists()


@pytest.mark.parametrize(
    ("command", "locked"),
    [
        (("plan",), ROOTS),
        (("plan", "--only", "allowlist"), ("allowlist",)),
        (("allowlist", "add", "34.93.0.1", "--apply", "--auto-approve"), ("allowlist",)),
    ],
    ids=lambda value: " ".join(value[:3]) if isinstance(value, tuple) else str(value),
)
def test_readonly_with_a_lock_file_in_each_root_to_run_runs_terraform(
    cli, rendered_build, terraform_runs: Path, command: tuple[str, ...], locked: tuple[str, ...]
) -> None:
    config, out = rendered_build
    for root in locked:
        (out / root / ".terraform.lock.hcl").write_text("# committed\n")
    cli(*command, "-c", config, "-o", out, "--lockfile", "readonly")
    inits = [line.split() for line in terraform_runs.read_text().splitlines() if " init " in f" {line} "]
    assert sorted(next(a for a in argv if a.startswith("-chdir=")) for argv in inits) == sorted(
        f"-chdir={out / root}" for root in locked
    )
    assert all("-lockfile=readonly" in argv for argv in inits)


def test_readonly_upgrade_uses_the_single_root_lock_file(
    cli, tmp_path: Path, terraform_runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pipeline's `iac plan --lockfile readonly` on a deployment still in the single-root layout, its lock file
    committed at the top: the upgrade copies that lock file into each root, and Terraform runs with it."""
    config = tmp_path / "iac.yaml"
    shutil.copyfile(EXAMPLES / "documented" / "iac.yaml", config)
    out = tmp_path / "build"
    shutil.copytree(Path(__file__).parent / "fixtures" / "single-root" / "documented", out)
    (out / ".terraform.lock.hcl").write_text("# committed with the single-root rendering\n")
    monkeypatch.setenv("IAC_LOCKFILE", "readonly")
    cli("plan", "-c", config, "-o", out)
    inits = [line.split() for line in terraform_runs.read_text().splitlines() if " init " in f" {line} "]
    assert sorted(next(a for a in argv if a.startswith("-chdir=")) for argv in inits) == sorted(
        f"-chdir={out / root}" for root in ROOTS
    )
    assert all("-lockfile=readonly" in argv for argv in inits)
    for root in ROOTS:
        assert (out / root / ".terraform.lock.hcl").read_text() == "# committed with the single-root rendering\n"
    # Without a lock file anywhere, still refused.
    for root in ROOTS:
        (out / root / ".terraform.lock.hcl").unlink()
    (out / ".terraform.lock.hcl").unlink()
    refused = cli("plan", "-c", config, "-o", out)
    assert refused.exit_code == 1 and "serving/.terraform.lock.hcl: missing" in refused.stderr
