"""The output directory holds only what iac renders and what the config declares (`terraform.extra_files`): any
other file Terraform would read, and any symlink, fails `render --check` and is refused by render, plan, apply
and the edits' --apply before Terraform runs (issue 23: a `main_override.tf` could deploy `0.0.0.0/0`).

Terraform runs in the two root modules, `serving/` and `allowlist/` (issue 28): the survey walks both, their
`modules/`, and the top of the directory, where a file of the single-root layout would no longer be read."""

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
SERVING_MODULE = "serving/modules/gcp-direct-access"
ALLOWLIST_MODULE = "allowlist/modules/gcp-direct-access-allowlist"
OLD_MODULE = "modules/gcp-direct-access"  # where the single-root layout of earlier versions copied its module
# Each root module and the module it calls: an override dropped into any of them changes what Terraform plans.
OVERRIDE_PLACES = ("serving", "allowlist", SERVING_MODULE, ALLOWLIST_MODULE)
OUTSIDE = "outside serving/ and allowlist/, the root modules Terraform runs in"


def _file(name: str, text: str) -> Callable[[Path], None]:
    def add(out: Path) -> None:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)

    return add


def _symlinked(name: str) -> Callable[[Path], None]:
    """The directory `name` moved out of the output directory and linked back: the same bytes, through a symlink."""

    def move(out: Path) -> None:
        elsewhere = out.parent / "elsewhere" / name
        elsewhere.parent.mkdir(parents=True)
        shutil.move(str(out / name), str(elsewhere))
        (out / name).symlink_to(elsewhere, target_is_directory=True)

    return move


def _symlinked_file(out: Path) -> None:
    target = out.parent / "shared.tf"
    target.write_text(OVERRIDE)
    (out / "serving" / "shared.tf").symlink_to(target)


# Each kind of file Terraform would read, in each root, in the modules and at the top; the name each is reported by.
EXTRAS: dict[str, tuple[Callable[[Path], None], str]] = {
    **{
        f"{where} _override.tf": (_file(f"{where}/zz_override.tf", OVERRIDE), f"{where}/zz_override.tf")
        for where in OVERRIDE_PLACES
    },
    "serving override.tf": (_file("serving/override.tf", OVERRIDE), "serving/override.tf"),
    "allowlist override.tf": (_file("allowlist/override.tf", OVERRIDE), "allowlist/override.tf"),
    "serving .tf": (_file("serving/alerts.tf", "# more resources\n"), "serving/alerts.tf"),
    "allowlist .tf.json": (
        _file("allowlist/extra.tf.json", '{"locals": {"ranges": ["0.0.0.0/0"]}}'),
        "allowlist/extra.tf.json",
    ),
    "terraform.tfvars": (_file("allowlist/terraform.tfvars", 'x = "y"\n'), "allowlist/terraform.tfvars"),
    ".auto.tfvars": (_file("serving/open.auto.tfvars", 'x = "y"\n'), "serving/open.auto.tfvars"),
    ".tfvars.json": (_file("allowlist/open.auto.tfvars.json", '{"x": "y"}'), "allowlist/open.auto.tfvars.json"),
    "module .tf.json": (_file(f"{ALLOWLIST_MODULE}/zz.tf.json", "{}"), f"{ALLOWLIST_MODULE}/zz.tf.json"),
    "module .tfvars": (_file(f"{SERVING_MODULE}/terraform.tfvars", 'x = "y"\n'), f"{SERVING_MODULE}/terraform.tfvars"),
    "another module": (_file("serving/modules/other/main.tf", "# a module\n"), "serving/modules/other/main.tf"),
    # Outside both roots: what the single-root layout read, and Terraform no longer does.
    "top _override.tf": (_file("main_override.tf", OVERRIDE), "main_override.tf"),
    "top .tfvars": (_file("terraform.tfvars", 'x = "y"\n'), "terraform.tfvars"),
    "top module": (_file(f"{OLD_MODULE}/zz_override.tf", OVERRIDE), f"{OLD_MODULE}/zz_override.tf"),
    "symlinked serving/modules/": (_symlinked("serving/modules"), "serving/modules: a symlink"),
    "symlinked allowlist/": (_symlinked("allowlist"), "allowlist: a symlink"),
    "symlinked .tf": (_symlinked_file, "serving/shared.tf: a symlink"),
}


def tree(directory: Path) -> dict[str, bytes]:
    """Every file below `directory`, by relative path (not through a symlinked directory)."""
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind", EXTRAS, ids=str)
def test_an_extra_file_fails_render_check(cli, rendered_build, kind: str) -> None:
    config, out = rendered_build
    add, named = EXTRAS[kind]
    add(out)
    result = cli("render", "-c", config, "-o", out, "--check")
    assert result.exit_code == 1, result.output
    assert f"error: {named}" in result.stderr
    assert "remove each file" in result.stderr or "replace each symlink" in result.stderr
    if kind.startswith("top "):
        assert f"{OUTSIDE}: Terraform no longer reads it there" in result.stderr
        assert "move one Terraform should read into the root module it belongs with" in result.stderr


@pytest.mark.parametrize("command", ["plan", "apply"])
@pytest.mark.parametrize("kind", EXTRAS, ids=str)
def test_plan_and_apply_refuse_an_extra_file_before_terraform_runs(
    cli, rendered_build, terraform_runs: Path, kind: str, command: str
) -> None:
    config, out = rendered_build
    add, named = EXTRAS[kind]
    add(out)
    before = tree(out)
    args = ["--auto-approve"] if command == "apply" else []
    result = cli(command, "-c", config, "-o", out, *args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"error: {named}" in result.stderr
    assert "Terraform was not run" in result.stderr
    assert not terraform_runs.exists(), "terraform must never start"
    assert tree(out) == before, "nothing rendered or removed in either root"


@pytest.mark.parametrize("only", ["serving", "allowlist"])
def test_only_one_root_is_refused_for_an_extra_file_in_the_other(
    cli, rendered_build, terraform_runs: Path, only: str
) -> None:
    """The survey covers the whole directory whichever root runs: `--only` never narrows it."""
    config, out = rendered_build
    other = "allowlist" if only == "serving" else "serving"
    _file(f"{other}/main_override.tf", OVERRIDE)(out)
    result = cli("plan", "-c", config, "-o", out, "--only", only)
    assert result.exit_code == 1, result.output
    assert f"error: {other}/main_override.tf: not rendered by iac" in result.stderr
    assert not terraform_runs.exists()


@pytest.mark.parametrize("module", [ALLOWLIST_MODULE, SERVING_MODULE])
def test_an_edit_with_apply_is_refused_before_terraform_runs(
    cli, rendered_build, terraform_runs: Path, module: str
) -> None:
    """An allowlist edit applies allowlist/ alone; an override in either root is refused all the same."""
    config, out = rendered_build
    _file(f"{module}/zz_override.tf", OVERRIDE)(out)
    result = cli("allowlist", "add", "34.93.0.1", "-c", config, "-o", out, "--apply", "--auto-approve", "--json")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["extra_files"]["undeclared"] == [f"{module}/zz_override.tf"]
    assert document["applied"] is False, "the edit is written, and it says that it was not applied"
    assert not terraform_runs.exists()


def test_plan_json_names_each_extra_file(cli, rendered_build, terraform_runs: Path) -> None:
    config, out = rendered_build
    _file("allowlist/main_override.tf", OVERRIDE)(out)
    _file("main_override.tf", OVERRIDE)(out)
    _symlinked("serving/modules")(out)
    result = cli("plan", "-c", config, "-o", out, "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["exit_code"] == 1
    assert document["extra_files"]["undeclared"] == ["allowlist/main_override.tf", "main_override.tf"]
    assert document["extra_files"]["symlinks"] == ["serving/modules"]
    assert "declare one you did under terraform.extra_files" in document["error"]


def test_render_refuses_an_extra_file_and_writes_nothing(cli, rendered_build) -> None:
    config, out = rendered_build
    _file("allowlist/main_override.tf", OVERRIDE)(out)
    config.write_text(CONFIG + "  - 34.93.0.1/32\n")
    before = tree(out)
    result = cli("render", "-c", config, "-o", out)
    assert result.exit_code == 1, result.output
    assert "error: allowlist/main_override.tf: not rendered by iac, not in terraform.extra_files" in result.stderr
    assert "nothing was written" in result.stderr
    assert tree(out) == before


def test_terraforms_own_files_are_not_extras(cli, rendered_build) -> None:
    config, out = rendered_build
    for root in ("serving", "allowlist"):
        for name in (
            ".terraform/modules/direct_access/main.tf",
            ".terraform/providers/link.tf",
            "terraform.tfstate",
            "terraform.tfstate.backup",
            ".terraform.lock.hcl",
            "iac.tfplan",
            "README.md",
        ):
            _file(f"{root}/{name}", "{}")(out)
        (out / root / ".terraform" / "modules" / "linked").symlink_to(out / root / "modules")
    _file("README.md", "the team's notes")(out)
    before = tree(out)
    result = cli("render", "-c", config, "-o", out, "--check")
    assert result.exit_code == 0, result.output
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    assert tree(out) == before, "re-rendering keeps Terraform's files in each root, and the user's"


# --- declared extra files -------------------------------------------------------------------------------------

ALERTS = 'resource "terraform_data" "alerts" {\n  input = "page the on-call"\n}\n'


def declaring(config: Path, *names: str) -> None:
    listed = "".join(f"    - {name}\n" for name in names)
    config.write_text(CONFIG + f"terraform:\n  extra_files:\n{listed}")


def test_a_declared_extra_file_passes_render_check(cli, rendered_build) -> None:
    config, out = rendered_build
    declared = ["serving/alerts.tf", f"{ALLOWLIST_MODULE}/alerts_override.tf", "allowlist/notes.auto.tfvars"]
    declaring(config, *declared)
    for name in declared:
        _file(name, ALERTS)(out)
    result = cli("render", "-c", config, "-o", out, "--check")
    assert result.exit_code == 0, result.output
    assert "and the 3 extra files it declares" in result.stdout
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    for name in declared:
        assert (out / name).read_text() == ALERTS, f"render never touches a declared file: {name}"


@pytest.mark.terraform
def test_terraform_reads_a_declared_extra_file_and_the_summary_lists_its_digest(
    cli, tmp_path: Path, builtin_deployment
) -> None:
    config = tmp_path / "iac.yaml"
    declaring(config, "serving/alerts.tf", "allowlist/audit.tf")
    out = tmp_path / "build"
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    _file("serving/alerts.tf", ALERTS)(out)
    audit = ALERTS.replace('"alerts"', '"audit"')
    _file("allowlist/audit.tf", audit)(out)
    summary = tmp_path / "summary.md"
    result = cli("plan", "-c", config, "-o", out, "--summary", summary, "--json")
    assert result.exit_code == 2, result.output
    planned = {(r.get("root"), r["address"]) for r in json.loads(result.stdout)["resources"]}
    assert ("serving", "terraform_data.alerts") in planned, "Terraform planned the declared file with serving/"
    assert ("allowlist", "terraform_data.audit") in planned, "and the one in allowlist/ with the allow rules"
    text = summary.read_text()
    assert "### Extra files: 2 declared in `terraform.extra_files`" in text
    assert f"| serving\\/alerts\\.tf | `{hashlib.sha256(ALERTS.encode()).hexdigest()}` |" in text
    assert f"| allowlist\\/audit\\.tf | `{hashlib.sha256(audit.encode()).hexdigest()}` |" in text


def test_a_declared_file_that_is_missing_is_refused_by_plan_and_a_warning_for_render(
    cli, rendered_build, terraform_runs: Path
) -> None:
    config, out = rendered_build
    declaring(config, "serving/alerts.tf")
    written = cli("render", "-c", config, "-o", out)
    assert written.exit_code == 0, written.output
    assert f"warning: {out / 'serving' / 'alerts.tf'} is in terraform.extra_files but missing" in written.stderr
    checked = cli("render", "-c", config, "-o", out, "--check")
    assert checked.exit_code == 1
    assert "error: serving/alerts.tf: in terraform.extra_files, but missing" in checked.stderr
    planned = cli("plan", "-c", config, "-o", out)
    assert planned.exit_code == 1
    assert "serving/alerts.tf: in terraform.extra_files, but missing" in planned.stderr
    assert "add each missing file, or take it out of terraform.extra_files" in planned.stderr
    assert not terraform_runs.exists()


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("serving/main.tf", "serving/main.tf: in terraform.extra_files, but iac renders it"),
        ("allowlist/main.tf", "allowlist/main.tf: in terraform.extra_files, but iac renders it"),
        (f"{SERVING_MODULE}/main.tf", f"{SERVING_MODULE}/main.tf: in terraform.extra_files, but iac renders it"),
        ("serving/conf.d", "serving/conf.d: in terraform.extra_files, but not a regular file"),
    ],
)
def test_a_declared_file_iac_renders_or_that_is_no_file_is_refused(
    cli, rendered_build, terraform_runs: Path, name: str, problem: str
) -> None:
    config, out = rendered_build
    (out / "serving" / "conf.d").mkdir()
    declaring(config, name)
    result = cli("plan", "-c", config, "-o", out)
    assert result.exit_code == 1, result.output
    assert f"error: {problem}" in result.stderr
    assert not terraform_runs.exists()


@pytest.mark.parametrize("name", ["alerts.tf", "modules/alerts/main.tf"])
def test_a_declared_file_at_the_top_of_the_layout_of_earlier_versions_is_a_config_error(
    cli, rendered_build, terraform_runs: Path, name: str
) -> None:
    """Declared where the single-root layout had its root module: Terraform no longer reads it there. Each command
    says to move it into serving/, and writes nothing."""
    config, out = rendered_build
    declaring(config, name)
    _file(name, ALERTS)(out)
    before = tree(out)
    for command in (["render"], ["render", "--check"], ["plan"], ["apply", "--auto-approve"]):
        result = cli(command[0], "-c", config, "-o", out, *command[1:])
        assert result.exit_code == 1, (command, result.output)
        assert "Traceback" not in result.output
        assert f"error: {config}:12: terraform.extra_files[0]: '{name}' is outside both root modules" in result.stderr
        assert f"move the file into serving/ and declare it as 'serving/{name}'" in result.stderr
        assert tree(out) == before, command
    assert not terraform_runs.exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("/etc/alerts.tf", "'/etc/alerts.tf' is an absolute path"),
        ("../alerts.tf", "'../alerts.tf' leads out of the output directory"),
        ("serving/../../alerts.tf", "leads out of the output directory"),
        ("./serving/alerts.tf", "is not a plain relative path: write 'serving/alerts.tf'"),
        ("serving//a.tf", "is not a plain relative path: write 'serving/a.tf'"),
        ("alerts.tf", "'alerts.tf' is outside both root modules (serving/, allowlist/)"),
        ("modules/gcp-direct-access/x.tf", "declare it as 'serving/modules/gcp-direct-access/x.tf'"),
        ("allowlist", "'allowlist' names the root module allowlist/, not a file in it"),
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
    _file("serving/main_override.tf", OVERRIDE)(tmp_path)
    result = cli("plan", "-c", config, "-o", tmp_path)
    assert result.exit_code == 1
    assert "error: serving/main_override.tf: not rendered by iac" in result.stderr
    assert not terraform_runs.exists()
