"""The output directory holds only what iac renders and what the config declares (`terraform.extra_files`): any
other file Terraform would read, and any symlink, fails `render --check` and is refused by render, plan, apply
and the edits' --apply before Terraform runs (issue 23: a `main_override.tf` could deploy `0.0.0.0/0`)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from test_apply import CONFIG

OVERRIDE = 'locals {\n  ranges = ["0.0.0.0/0"]\n}\n'
MODULE = "modules/gcp-direct-access"


def _file(name: str, text: str) -> Callable[[Path], None]:
    def add(out: Path) -> None:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)

    return add


def _symlinked_modules(out: Path) -> None:
    """modules/ moved out of the output directory and linked back: the same bytes, read through a symlink."""
    elsewhere = out.parent / "elsewhere"
    elsewhere.mkdir()
    shutil.move(str(out / "modules"), str(elsewhere / "modules"))
    (out / "modules").symlink_to(elsewhere / "modules", target_is_directory=True)


def _symlinked_file(out: Path) -> None:
    target = out.parent / "shared.tf"
    target.write_text(OVERRIDE)
    (out / "shared.tf").symlink_to(target)


# Each kind of file Terraform would read, at the root and in the module; the name each is reported by.
EXTRAS: dict[str, tuple[Callable[[Path], None], str]] = {
    "root _override.tf": (_file("main_override.tf", OVERRIDE), "main_override.tf"),
    "root override.tf": (_file("override.tf", OVERRIDE), "override.tf"),
    "root .tf": (_file("alerts.tf", "# more resources\n"), "alerts.tf"),
    "root .tf.json": (_file("extra.tf.json", '{"locals": {"ranges": ["0.0.0.0/0"]}}'), "extra.tf.json"),
    "terraform.tfvars": (_file("terraform.tfvars", 'x = "y"\n'), "terraform.tfvars"),
    ".auto.tfvars": (_file("open.auto.tfvars", 'x = "y"\n'), "open.auto.tfvars"),
    ".tfvars.json": (_file("open.auto.tfvars.json", '{"x": "y"}'), "open.auto.tfvars.json"),
    "module _override.tf": (_file(f"{MODULE}/zz_override.tf", OVERRIDE), f"{MODULE}/zz_override.tf"),
    "module .tf.json": (_file(f"{MODULE}/zz.tf.json", "{}"), f"{MODULE}/zz.tf.json"),
    "module .tfvars": (_file(f"{MODULE}/terraform.tfvars", 'x = "y"\n'), f"{MODULE}/terraform.tfvars"),
    "another module": (_file("modules/other/main.tf", "# a module\n"), "modules/other/main.tf"),
    "symlinked modules/": (_symlinked_modules, "modules: a symlink"),
    "symlinked .tf": (_symlinked_file, "shared.tf: a symlink"),
}


@pytest.mark.parametrize("kind", EXTRAS, ids=str)
def test_an_extra_file_fails_render_check(cli, rendered_build, kind: str) -> None:
    config, out = rendered_build
    add, named = EXTRAS[kind]
    add(out)
    result = cli("render", "-c", config, "-o", out, "--check")
    assert result.exit_code == 1, result.output
    assert f"error: {named}" in result.stderr
    assert "remove each file" in result.stderr or "replace each symlink" in result.stderr


@pytest.mark.parametrize("command", ["plan", "apply"])
@pytest.mark.parametrize("kind", EXTRAS, ids=str)
def test_plan_and_apply_refuse_an_extra_file_before_terraform_runs(
    cli, rendered_build, terraform_runs: Path, kind: str, command: str
) -> None:
    config, out = rendered_build
    add, named = EXTRAS[kind]
    add(out)
    before = (out / "main.tf").read_bytes()
    args = ["--auto-approve"] if command == "apply" else []
    result = cli(command, "-c", config, "-o", out, *args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"error: {named}" in result.stderr
    assert "Terraform was not run" in result.stderr
    assert not terraform_runs.exists(), "terraform must never start"
    assert (out / "main.tf").read_bytes() == before


def test_an_edit_with_apply_is_refused_before_terraform_runs(cli, rendered_build, terraform_runs: Path) -> None:
    config, out = rendered_build
    _file(f"{MODULE}/zz_override.tf", OVERRIDE)(out)
    result = cli("allowlist", "add", "34.93.0.1", "-c", config, "-o", out, "--apply", "--auto-approve", "--json")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["extra_files"]["undeclared"] == [f"{MODULE}/zz_override.tf"]
    assert document["applied"] is False, "the edit is written, and it says that it was not applied"
    assert not terraform_runs.exists()


def test_plan_json_names_each_extra_file(cli, rendered_build, terraform_runs: Path) -> None:
    config, out = rendered_build
    _file("main_override.tf", OVERRIDE)(out)
    _symlinked_modules(out)
    result = cli("plan", "-c", config, "-o", out, "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["exit_code"] == 1
    assert document["extra_files"]["undeclared"] == ["main_override.tf"]
    assert document["extra_files"]["symlinks"] == ["modules"]
    assert "declare one you did under terraform.extra_files" in document["error"]


def test_render_refuses_an_extra_file_and_writes_nothing(cli, rendered_build) -> None:
    config, out = rendered_build
    _file("main_override.tf", OVERRIDE)(out)
    config.write_text(CONFIG + "  - 34.93.0.1/32\n")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    result = cli("render", "-c", config, "-o", out)
    assert result.exit_code == 1, result.output
    assert "error: main_override.tf: not rendered by iac, not in terraform.extra_files" in result.stderr
    assert "nothing was written" in result.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_terraforms_own_files_are_not_extras(cli, rendered_build) -> None:
    config, out = rendered_build
    for name in (
        ".terraform/modules/direct_access/main.tf",
        ".terraform/providers/link.tf",
        "terraform.tfstate",
        "terraform.tfstate.backup",
        ".terraform.lock.hcl",
        "iac.tfplan",
        "README.md",
    ):
        _file(name, "{}")(out)
    (out / ".terraform" / "modules" / "linked").symlink_to(out / "modules")
    result = cli("render", "-c", config, "-o", out, "--check")
    assert result.exit_code == 0, result.output
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    assert (out / ".terraform.lock.hcl").exists(), "re-rendering keeps Terraform's lock file"


# --- declared extra files -------------------------------------------------------------------------------------

ALERTS = 'resource "terraform_data" "alerts" {\n  input = "page the on-call"\n}\n'


def declaring(config: Path, *names: str) -> None:
    listed = "".join(f"    - {name}\n" for name in names)
    config.write_text(CONFIG + f"terraform:\n  extra_files:\n{listed}")


def test_a_declared_extra_file_passes_render_check(cli, rendered_build) -> None:
    config, out = rendered_build
    declaring(config, "alerts.tf", f"{MODULE}/alerts_override.tf")
    _file("alerts.tf", ALERTS)(out)
    _file(f"{MODULE}/alerts_override.tf", "# reviewed\n")(out)
    result = cli("render", "-c", config, "-o", out, "--check")
    assert result.exit_code == 0, result.output
    assert "and the 2 extra files it declares" in result.stdout
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    assert (out / "alerts.tf").read_text() == ALERTS, "render never touches a declared file"


@pytest.mark.terraform
def test_terraform_reads_a_declared_extra_file_and_the_summary_lists_its_digest(
    cli, tmp_path: Path, builtin_deployment
) -> None:
    config = tmp_path / "iac.yaml"
    declaring(config, "alerts.tf")
    out = tmp_path / "build"
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    _file("alerts.tf", ALERTS)(out)
    summary = tmp_path / "summary.md"
    result = cli("plan", "-c", config, "-o", out, "--summary", summary, "--json")
    assert result.exit_code == 2, result.output
    addresses = {r["address"] for r in json.loads(result.stdout)["resources"]}
    assert "terraform_data.alerts" in addresses, "Terraform planned the declared file with the rendering"
    text = summary.read_text()
    digest = hashlib.sha256(ALERTS.encode()).hexdigest()
    assert "### Extra files: 1 declared in `terraform.extra_files`" in text
    assert f"| alerts\\.tf | `{digest}` |" in text


def test_a_declared_file_that_is_missing_is_refused_by_plan_and_a_warning_for_render(
    cli, rendered_build, terraform_runs: Path
) -> None:
    config, out = rendered_build
    declaring(config, "alerts.tf")
    written = cli("render", "-c", config, "-o", out)
    assert written.exit_code == 0, written.output
    assert f"warning: {out / 'alerts.tf'} is in terraform.extra_files but missing" in written.stderr
    checked = cli("render", "-c", config, "-o", out, "--check")
    assert checked.exit_code == 1
    assert "error: alerts.tf: in terraform.extra_files, but missing" in checked.stderr
    planned = cli("plan", "-c", config, "-o", out)
    assert planned.exit_code == 1
    assert "alerts.tf: in terraform.extra_files, but missing" in planned.stderr
    assert "add each missing file, or take it out of terraform.extra_files" in planned.stderr
    assert not terraform_runs.exists()


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("main.tf", "main.tf: in terraform.extra_files, but iac renders it"),
        (f"{MODULE}/main.tf", f"{MODULE}/main.tf: in terraform.extra_files, but iac renders it"),
        ("conf.d", "conf.d: in terraform.extra_files, but not a regular file"),
    ],
)
def test_a_declared_file_iac_renders_or_that_is_no_file_is_refused(
    cli, rendered_build, terraform_runs: Path, name: str, problem: str
) -> None:
    config, out = rendered_build
    (out / "conf.d").mkdir()
    declaring(config, name)
    result = cli("plan", "-c", config, "-o", out)
    assert result.exit_code == 1, result.output
    assert f"error: {problem}" in result.stderr
    assert not terraform_runs.exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("/etc/alerts.tf", "'/etc/alerts.tf' is an absolute path"),
        ("../alerts.tf", "'../alerts.tf' leads out of the output directory"),
        ("modules/../../alerts.tf", "leads out of the output directory"),
        ("./alerts.tf", "is not a plain relative path: write 'alerts.tf'"),
        ("modules//a.tf", "is not a plain relative path: write 'modules/a.tf'"),
        ('"a\\0b.tf"', "contains a control character"),
        ('"a\\nb.tf"', "contains a control character"),
        ('"c:\\\\x.tf"', "is an absolute path"),
        ('"dir\\\\x.tf"', "contains a backslash"),
        ('""', "is empty"),
        (".terraform.lock.hcl", "is a working file of Terraform or iac"),
        (".terraform/modules/x.tf", "is a working file of Terraform or iac"),
        ("terraform.tfstate", "is a working file of Terraform or iac"),
        (".iac-files", "is a working file of Terraform or iac"),
        ("7", "input should be a valid string (got 7)"),
    ],
)
def test_a_bad_extra_files_entry_is_one_message_naming_file_key_and_value(
    cli, tmp_path: Path, value: str, message: str
) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG + f"terraform:\n  extra_files:\n    - {value}\n")
    result = cli("validate", "-c", config)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if "terraform.extra_files" in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {config}:12: terraform.extra_files[0]: ")
    assert message in lines[0]


def test_a_foreign_directory_is_refused_as_before_not_walked(cli, tmp_path: Path, terraform_runs: Path) -> None:
    config = tmp_path / "conf" / "iac.yaml"
    config.parent.mkdir()
    config.write_text(CONFIG)
    foreign = tmp_path / "home"
    _file("project/main_override.tf", OVERRIDE)(foreign)
    result = cli("plan", "-c", config, "-o", foreign)
    assert result.exit_code == 1
    assert "is not empty and holds no .iac-files" in result.stderr
    assert not terraform_runs.exists()


def test_the_configs_own_directory_is_looked_through(cli, tmp_path: Path, terraform_runs: Path) -> None:
    """The config's directory needs no ledger to be written: with none (deleted in a pull request), an override
    there is still refused."""
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    assert cli("render", "-c", config, "-o", tmp_path).exit_code == 0
    os.remove(tmp_path / ".iac-files")
    _file("main_override.tf", OVERRIDE)(tmp_path)
    result = cli("plan", "-c", config, "-o", tmp_path)
    assert result.exit_code == 1
    assert "error: main_override.tf: not rendered by iac" in result.stderr
    assert not terraform_runs.exists()
