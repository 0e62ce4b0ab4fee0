"""A rotation as a pipeline runs it: one named baseline for rule changes, edit-then-apply that never fails
silently, one JSON document per --json run (failures included), `render --check`, `plan --summary` and
`--lockfile readonly`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_apply import CONFIG, done_operation, invalidations

# A terraform that records its arguments and fails `init` (a registry or backend that cannot be reached).
FAILING_INIT = """\
#!{python}
import os, sys
with open(os.environ["FAKE_ARGV_LOG"], "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
if "init" in sys.argv:
    sys.stderr.write("Error: Failed to query available provider packages\\n")
    sys.exit(1)
sys.exit(0)
"""


def write(path: Path, text: str = CONFIG) -> Path:
    path.write_text(text)
    return path


def one_document(stdout: str) -> dict:
    """stdout is exactly one JSON document (json.loads refuses anything before or after it)."""
    document = json.loads(stdout)
    assert isinstance(document, dict)
    return document


@pytest.fixture
def failing_terraform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake = tmp_path / "terraform-fails"
    fake.write_text(FAILING_INIT.format(python=sys.executable))
    fake.chmod(0o755)
    log = tmp_path / "argv.log"
    monkeypatch.setenv("FAKE_ARGV_LOG", str(log))
    monkeypatch.setenv("IAC_TERRAFORM", str(fake))
    return log


# --- one baseline, named --------------------------------------------------------------------------------------


def test_without_a_rendering_an_edit_says_it_packs_afresh_and_invents_no_removal(cli, tmp_path: Path) -> None:
    config = write(tmp_path / "iac.yaml")
    result = cli("allowlist", "add", "34.90.1.1", "-c", config, "--json")
    assert result.exit_code == 0, result.output
    edit = one_document(result.stdout)
    assert edit["ok"] is True and edit["changed"] is True
    assert edit["baseline"]["source"] == "none"
    # Against no baseline every rule is new; nothing is "removed" that the file never lost.
    assert all(rule["removed"] == [] for rule in edit["rules_changed"])
    assert "no earlier rendering in" in result.stderr and "packed afresh" in result.stderr


def test_an_edit_compares_with_the_rendering_and_says_so(cli, tmp_path: Path) -> None:
    config = write(tmp_path / "iac.yaml")
    out = tmp_path / "build"
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    result = cli("allowlist", "add", "34.90.1.1", "-c", config, "-o", out)
    assert result.exit_code == 0, result.output
    assert f"compared with the rendering in {out}/" in result.stdout
    assert "the same rules in the edge and the backend policy" in result.stdout
    assert "rule 1000: +34.90.1.1/32\n" in result.stdout

    # What the edit announced is what rendering the edited file changes.
    listed = cli("allowlist", "list", "-c", config, "-o", out, "--json")
    rendered = cli("render", "-c", config, "-o", out)
    assert "Cloud Armor rules changed: 1 of 1" in rendered.stdout
    assert one_document(listed.stdout)["rules"] == [
        {"priority": 1000, "ranges": ["34.90.1.1/32", "39.42.20.11/32", "130.192.120.23/32"]}
    ]


def test_an_unchanged_file_with_a_rendering_behind_it_says_which_is_which(cli, tmp_path: Path) -> None:
    """The measured report: `add 81.2.69.161` said "allowlist unchanged" and then showed a rule change."""
    config = write(tmp_path / "iac.yaml")
    out = tmp_path / "build"
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    write(config, CONFIG + "  - 81.2.69.160/28\n")  # edited by hand, not rendered yet
    result = cli("allowlist", "add", "81.2.69.161", "-c", config, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    edit = one_document(result.stdout)
    assert edit["changed"] is False and edit["written"] is False
    assert edit["baseline"]["source"] == "rendering" and edit["rendering_behind"] is True
    assert edit["rules_changed"] == [{"priority": 1000, "added": ["81.2.69.160/28"], "removed": []}]
    assert f"allowlist in {config}: unchanged" in result.stderr
    assert "was rendered from another allowlist" in result.stderr


def test_validate_shows_the_rules_render_would_write(cli, tmp_path: Path) -> None:
    config = write(tmp_path / "iac.yaml")
    out = tmp_path / "build"
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    write(config, CONFIG.replace("  - 130.192.120.23/32\n", "") + "  - 2.16.0.0/13\n")
    document = one_document(cli("validate", "-c", config, "-o", out, "--json").stdout)
    allowlist = document["allowlist"]
    assert allowlist["baseline"]["source"] == "rendering"
    assert allowlist["priorities"] == [1000]
    assert allowlist["rules"] == [["2.16.0.0/13", "39.42.20.11/32"]]


# --- every --json prints one document ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("allowlist", "add", "999.1.1.1"),
        ("allowlist", "remove", "8.8.8.8"),
        ("allowlist", "list", "--lock-timeout", "1s"),  # a usage error: no such option
        ("plan", "--lock-timeout", "soon"),
        ("plan", "--lockfile", "update"),
    ],
)
def test_a_failed_json_command_prints_one_failure_document(cli, tmp_path: Path, args: tuple[str, ...]) -> None:
    config = write(tmp_path / "iac.yaml")
    result = cli(*args, "-c", config, "--json")
    assert result.exit_code == 1
    document = one_document(result.stdout)
    assert document["ok"] is False and document["exit_code"] == 1
    assert document["error"]
    assert config.read_text() == CONFIG


def test_a_bad_from_file_is_a_document_listing_every_problem(cli, tmp_path: Path) -> None:
    config = write(tmp_path / "iac.yaml")
    source = tmp_path / "egress.txt"
    source.write_text("34.90.1.1\n10.0.0.1\nnot-an-address\n")
    result = cli("allowlist", "set", "--from", source, "-c", config, "--json")
    assert result.exit_code == 1
    document = one_document(result.stdout)
    assert [problem.split(":")[1] for problem in document["problems"]] == ["2", "3"]
    assert config.read_text() == CONFIG


def test_plan_json_when_init_fails_is_a_failure_document(cli, tmp_path: Path, failing_terraform: Path) -> None:
    config = write(tmp_path / "iac.yaml")
    result = cli("plan", "-c", config, "-o", tmp_path / "build", "--json")
    assert result.exit_code == 1
    document = one_document(result.stdout)
    assert document["ok"] is False and "Failed to query available provider packages" in document["error"]


def test_verdict_documents_say_ok_and_the_exit_status(cli, tmp_path: Path) -> None:
    """A command whose finding is its exit status (manifest validate, doctor) says so in its document too."""
    good = tmp_path / "good.json"
    good.write_text('{"images": [{"objectUrl": "https://data.acme.com/a.jpg", "title": "a.jpg"}]}\n')
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [{"objectUrl": "https://data.acme.com/a.jpg",}]}\n')
    valid = cli("manifest", "validate", good, "--json")
    assert valid.exit_code == 0 and one_document(valid.stdout)["ok"] is True
    invalid = cli("manifest", "validate", bad, "--json")
    assert invalid.exit_code == 1
    document = one_document(invalid.stdout)
    assert document["ok"] is False and document["exit_code"] == 1 and document["problems"]

    missing = cli("doctor", "-c", tmp_path / "no-such.yaml", "--json")
    assert missing.exit_code == 1
    document = one_document(missing.stdout)
    assert document["ok"] is False and document["exit_code"] == 1


# --- edit, then apply: one flow that never fails silently ------------------------------------------------------


def test_an_apply_failing_after_the_edit_says_the_config_changed_and_how_to_finish(
    cli, tmp_path: Path, failing_terraform: Path
) -> None:
    config = write(tmp_path / "iac.yaml")
    out = tmp_path / "build"
    result = cli("allowlist", "add", "34.90.1.1", "-c", config, "-o", out, "--apply", "--auto-approve", "--json")
    assert result.exit_code == 1
    assert "34.90.1.1/32" in config.read_text(), "the edit was written before the apply flow ran"
    assert f"{config} was changed (the allowlist edit is written) but NOT applied" in result.stderr
    assert f"`iac apply -c {config}`" in result.stderr
    document = one_document(result.stdout)
    assert document["ok"] is False and document["applied"] is False
    assert document["edit"]["written"] is True and document["edit"]["added"] == ["34.90.1.1/32"]


def test_an_apply_failing_after_an_edit_that_changed_nothing_is_a_plain_failure(
    cli, tmp_path: Path, failing_terraform: Path
) -> None:
    config = write(tmp_path / "iac.yaml")
    result = cli("allowlist", "add", "39.42.20.11", "-c", config, "--apply", "--auto-approve")
    assert result.exit_code == 1
    assert "NOT applied" not in result.stderr
    assert config.read_text() == CONFIG


def test_iac_apply_finishes_an_edit_whose_apply_failed(
    cli, tmp_path: Path, builtin_deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path / "iac.yaml")
    out = tmp_path / "build"
    assert cli("apply", "-c", config, "-o", out, "--auto-approve").exit_code == 0
    real = os.environ["IAC_TERRAFORM"]
    failing = tmp_path / "terraform-fails"
    failing.write_text(FAILING_INIT.format(python=sys.executable))
    failing.chmod(0o755)
    monkeypatch.setenv("FAKE_ARGV_LOG", str(tmp_path / "argv.log"))
    monkeypatch.setenv("IAC_TERRAFORM", str(failing))
    failed = cli("allowlist", "add", "34.90.1.1", "-c", config, "-o", out, "--apply", "--auto-approve")
    assert failed.exit_code == 1 and "NOT applied" in failed.stderr

    monkeypatch.setenv("IAC_TERRAFORM", real)
    builtin_deployment.expect_request(
        "/compute/v1/projects/my-gcp-project/global/urlMaps/encord-da-url-map/invalidateCache", method="POST"
    ).respond_with_handler(done_operation)
    finished = cli("apply", "-c", config, "-o", out, "--auto-approve", "--json")
    assert finished.exit_code == 0, finished.output
    document = one_document(finished.stdout)
    assert document["applied"] is True and document["plan"]["allowlist"]["added"] == ["34.90.1.1/32"]
    assert len(invalidations(builtin_deployment)) == 1


def test_a_missing_terraform_stops_an_edit_with_apply_before_it_is_written(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IAC_TERRAFORM", str(tmp_path / "no-such-terraform"))
    config = write(tmp_path / "iac.yaml")
    result = cli("allowlist", "add", "34.90.1.1", "-c", config, "--apply", "--auto-approve")
    assert result.exit_code == 1
    assert config.read_text() == CONFIG


# --- render --check --------------------------------------------------------------------------------------------


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def test_render_check_passes_only_on_exactly_what_the_config_renders(cli, tmp_path: Path) -> None:
    config = write(tmp_path / "iac.yaml")
    out = tmp_path / "build"

    nothing = cli("render", "-c", config, "-o", out, "--check")
    assert nothing.exit_code == 1
    assert f"error: {out}/ does not exist: nothing rendered there yet" in nothing.stderr
    assert not out.exists(), "--check writes nothing, not even the directory"

    assert cli("render", "-c", config, "-o", out).exit_code == 0
    clean = cli("render", "-c", config, "-o", out, "--check")
    assert clean.exit_code == 0, clean.output
    assert "holds exactly what" in clean.stdout

    (out / "extra-notes.md").write_text("the user's own file is not iac's business\n")
    assert cli("render", "-c", config, "-o", out, "--check").exit_code == 0

    write(config, CONFIG + "  - 34.90.1.1/32\n")
    before = snapshot(out)
    stale = cli("render", "-c", config, "-o", out, "--check")
    assert stale.exit_code == 1
    assert "error: allowlist/main.tf: differs" in stale.stderr
    assert "serving/" not in stale.stderr, "an allowlist change leaves the serving root as it is"
    assert f"run `iac render -c {config} -o {out}` and commit the result" in stale.stderr
    assert snapshot(out) == before
    # The command it suggests renders as the check did: with --repack when the check had it.
    repacked = cli("render", "-c", config, "-o", out, "--check", "--repack")
    assert f"run `iac render -c {config} -o {out} --repack` and commit the result" in repacked.stderr

    for root in ("serving", "allowlist"):
        (out / root / "versions.tf").unlink()
        assert f"{root}/versions.tf: missing" in cli("render", "-c", config, "-o", out, "--check").stderr


# --- plan --summary --------------------------------------------------------------------------------------------


def test_plan_summary_shows_a_reviewer_the_rotation(cli, tmp_path: Path, builtin_deployment) -> None:
    config = write(tmp_path / "iac.yaml")
    out = tmp_path / "build"
    assert cli("apply", "-c", config, "-o", out, "--auto-approve").exit_code == 0
    hostile = "Lisbon <img src=x onerror=alert(1)> | @acme/security [x](javascript:alert(1))"
    added = cli("allowlist", "add", "81.2.69.160/28", "-c", config, "-o", out, "--note", hostile)
    assert added.exit_code == 0, added.output
    assert cli("allowlist", "remove", "130.192.120.23", "-c", config, "-o", out).exit_code == 0

    summary = tmp_path / "summary.md"
    result = cli("plan", "-c", config, "-o", out, "--summary", summary)
    assert result.exit_code == 2, result.output
    text = summary.read_text()
    assert "## iac plan: `encord-da` in project `my-gcp-project`" in text
    assert "**2 resource changes:** 0 to create, 2 to update, 0 to replace, 0 to delete." in text
    assert "### Allowlist: 1 added, 1 removed" in text
    row = next(line for line in text.splitlines() if "`81.2.69.160/28`" in line and line.startswith("| added"))
    # The comment is there, inside a code span: it cannot become HTML, a mention, a link or a new table cell
    # (tests/test_summary.py renders such rows with GitHub's own parser).
    assert "`Lisbon <img src=x onerror=alert(1)> \\| @acme/security [x](javascript:alert(1))`" in row
    assert "| removed | `130.192.120.23/32` | |" in text
    assert "| 1000 | edge, backend | `81.2.69.160/28` | `130.192.120.23/32` |" in text
    assert "compared with the rendering in" in text
    assert "**CDN cache:** invalidated after apply" in text


def test_plan_summary_shows_the_roots_planned_and_each_resources_root(cli, tmp_path: Path, builtin_deployment) -> None:
    config = write(tmp_path / "iac.yaml")
    out = tmp_path / "build"
    assert cli("apply", "-c", config, "-o", out, "--auto-approve").exit_code == 0
    assert cli("allowlist", "add", "81.2.69.160/28", "-c", config, "-o", out).exit_code == 0
    for only, roots in ((None, "`serving/`, `allowlist/`"), ("allowlist", "`allowlist/`")):
        summary = tmp_path / f"summary-{only}.md"
        result = cli("plan", "-c", config, "-o", out, "--summary", summary, *(["--only", only] if only else []))
        assert result.exit_code == 2, result.output
        text = summary.read_text()
        assert f"Root modules planned: {roots}." in text
        assert "| action | root | address |" in text
        for policy in ("edge", "backend"):
            assert f'| update | allowlist | `terraform_data.rule["{policy}-1000"]` |' in text
        assert "| serving |" not in text, "nothing changes in serving/"


def test_plan_summary_of_an_upgrade_removes_no_range(
    cli, tmp_path: Path, builtin_deployment, terraform: str, terraform_env
) -> None:
    """A deployment of the single-root layout (its state with the allowlist_ranges output, as the real one has),
    planned after the upgrade: the rules go into allowlist/, and no range is shown as removed (nor the cache
    invalidated) although serving/ no longer declares that output. (The built-in stand-ins import a rule as
    an import and an update; tests/test_plan_analysis.py counts the imports of the real provider's plan.)"""
    from test_roots import SINGLE_ROOT_FAKE

    from iac.files.ledger import LEDGER, Deployment, ledger_bytes

    config = write(tmp_path / "iac.yaml")
    out = tmp_path / "build"
    out.mkdir()
    output = 'output "allowlist_ranges" {\n  value = flatten([for rule in local.allowlist.rules : rule.ranges])\n}\n'
    (out / "main.tf").write_text(SINGLE_ROOT_FAKE.format() + "\n" + output)
    (out / LEDGER).write_bytes(ledger_bytes("render", Deployment("my-gcp-project", "encord-da"), ["main.tf"], True))
    env = {**os.environ, **terraform_env}
    for command in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        done = subprocess.run([terraform, f"-chdir={out}", *command], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr

    summary = tmp_path / "summary.md"
    planned = cli("plan", "-c", config, "-o", out, "--summary", summary, "--json")
    assert planned.exit_code == 2, planned.output
    document = one_document(planned.stdout)
    assert document["counts"]["delete"] == 0 and document["counts"]["replace"] == 0
    assert "serving.allowlist_ranges" in document["outputs_changed"], "the single-root output does go"
    assert document["allowlist"] == {
        "changed": False,
        "needs_invalidation": False,
        "security_policies_changed": False,
        "added": [],
        "removed": [],
    }
    text = summary.read_text()
    assert "Root modules planned: `serving/`, `allowlist/`." in text
    for policy in ("edge", "backend"):
        assert f'| allowlist | `terraform_data.rule["{policy}-1000"]` |' in text
    assert "**Allowlist:** unchanged." in text and "| removed |" not in text
    assert "**CDN cache:** not invalidated: the allowlist does not change." in text


def test_plan_summary_says_no_changes(cli, tmp_path: Path, builtin_deployment) -> None:
    config = write(tmp_path / "iac.yaml")
    out = tmp_path / "build"
    assert cli("apply", "-c", config, "-o", out, "--auto-approve").exit_code == 0
    summary = tmp_path / "summary.md"
    result = cli("plan", "-c", config, "-o", out, "--summary", summary)
    assert result.exit_code == 0, result.output
    text = summary.read_text()
    assert "**No changes.**" in text and "**Allowlist:** unchanged." in text
    assert "not invalidated: the allowlist does not change" in text


def test_an_unwritable_summary_fails_before_terraform_runs(cli, tmp_path: Path, failing_terraform: Path) -> None:
    config = write(tmp_path / "iac.yaml")
    out = tmp_path / "build"
    result = cli("plan", "-c", config, "-o", out, "--summary", tmp_path / "no-such-dir" / "plan.md")
    assert result.exit_code == 1
    assert "does not exist" in result.stderr
    assert not failing_terraform.exists(), "terraform never ran"
    assert not out.exists()


def test_a_summary_through_a_dangling_link_is_refused_and_creates_nothing(
    cli, tmp_path: Path, failing_terraform: Path
) -> None:
    config = write(tmp_path / "iac.yaml")
    summary = tmp_path / "summary.md"
    summary.symlink_to(tmp_path / "elsewhere" / "deeper" / "plan.md")
    result = cli("plan", "-c", config, "-o", tmp_path / "build", "--summary", summary)
    assert result.exit_code == 1
    assert "is a symbolic link to" in result.stderr and "which does not exist (a dangling link)" in result.stderr
    assert not (tmp_path / "elsewhere").exists(), "the link's directories were created"
    assert not failing_terraform.exists(), "terraform never ran"


def test_a_failed_plan_still_writes_a_summary_that_says_so(cli, tmp_path: Path, failing_terraform: Path) -> None:
    config = write(tmp_path / "iac.yaml")
    summary = tmp_path / "summary.md"
    result = cli("plan", "-c", config, "-o", tmp_path / "build", "--summary", summary)
    assert result.exit_code == 1
    text = summary.read_text()
    assert "**The plan failed** (exit status 1)" in text
    assert "provider packages" not in text, "Terraform's details stay in the job's log"


# --- --lockfile readonly --------------------------------------------------------------------------------------


def locked_rendering(cli, config: Path, out: Path) -> None:
    """A rendering with a committed provider lock file in each root module, as `iac lock` leaves it."""
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    for root in ("serving", "allowlist"):
        (out / root / ".terraform.lock.hcl").write_text("# providers\n")


def test_lockfile_readonly_reaches_terraform_init(cli, tmp_path: Path, failing_terraform: Path) -> None:
    config = write(tmp_path / "iac.yaml")
    locked_rendering(cli, config, tmp_path / "build")
    cli("plan", "-c", config, "-o", tmp_path / "build", "--lockfile", "readonly")
    init = next(line for line in failing_terraform.read_text().splitlines() if " init " in f" {line} ")
    assert "-lockfile=readonly" in init.split()


def test_lockfile_readonly_from_the_environment(
    cli, tmp_path: Path, failing_terraform: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IAC_LOCKFILE", "readonly")
    config = write(tmp_path / "iac.yaml")
    locked_rendering(cli, config, tmp_path / "build")
    cli("apply", "-c", config, "-o", tmp_path / "build", "--auto-approve")
    assert "-lockfile=readonly" in failing_terraform.read_text().split()
