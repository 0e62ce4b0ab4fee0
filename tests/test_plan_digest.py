"""Apply exactly what was approved: `iac plan --json` prints the plan's digest, `iac apply --expect-digest`
applies only a plan with that digest (issue 23.3). On a real Terraform core with built-in resources."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from test_apply import CONFIG, state_serials

from conftest import TOOLS

pytestmark = pytest.mark.terraform


@pytest.fixture
def deployment(tmp_path: Path, builtin_deployment) -> tuple[Path, Path]:
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    return config, tmp_path / "build"


def planned_digest(cli, config: Path, out: Path, *more: str) -> str:
    result = cli("plan", "-c", config, "-o", out, "--json", *more)
    assert result.exit_code in (0, 2), result.output
    digest = json.loads(result.stdout)["digest"]
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    return str(digest)


def test_the_same_plan_has_the_same_digest_and_applies(cli, deployment) -> None:
    config, out = deployment
    first = planned_digest(cli, config, out)
    assert planned_digest(cli, config, out) == first, "two plans of one config on one state: one digest"

    applied = cli("apply", "-c", config, "-o", out, "--auto-approve", "--expect-digest", first.upper(), "--json")
    assert applied.exit_code == 0, applied.output
    document = json.loads(applied.stdout)
    assert document["applied"] is True and document["plan"]["digest"] == first
    assert "the plan's digest is the approved one" in applied.stderr
    assert None not in state_serials(out).values(), "both roots applied"


def test_a_changed_plan_is_refused_and_nothing_is_applied(cli, deployment) -> None:
    config, out = deployment
    assert cli("apply", "-c", config, "-o", out, "--auto-approve").exit_code == 0
    serials = state_serials(out)
    config.write_text(CONFIG + "  - 81.2.69.160/28\n")
    approved = planned_digest(cli, config, out)
    # After approval, someone changes the config again: the plan the apply makes is another one.
    config.write_text(CONFIG + "  - 81.2.69.192/28\n")
    refused = cli("apply", "-c", config, "-o", out, "--auto-approve", "--expect-digest", approved)
    assert refused.exit_code == 1, refused.output
    now = planned_digest(cli, config, out)
    assert now != approved
    assert f"approved digest {approved}, this plan's digest {now}" in refused.stderr
    assert "nothing was applied" in refused.stderr
    assert state_serials(out) == serials, "Terraform's apply must never run"
    assert "Traceback" not in refused.output


def test_a_mismatch_is_one_json_failure_document(cli, deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    config, out = deployment
    monkeypatch.setenv("IAC_EXPECT_DIGEST", "0" * 64)
    result = cli("apply", "-c", config, "-o", out, "--auto-approve", "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["exit_code"] == 1
    assert document["expected_digest"] == "0" * 64 and re.fullmatch(r"[0-9a-f]{64}", document["digest"])
    assert state_serials(out) == {"serving": None, "allowlist": None}


def test_an_approval_covers_exactly_the_roots_planned(cli, deployment) -> None:
    """The digest of a plan of both roots approves both: `apply --only allowlist` with it is refused, and the
    digest of `plan --only allowlist` applies allowlist/ alone."""
    config, out = deployment
    assert cli("apply", "-c", config, "-o", out, "--auto-approve").exit_code == 0
    config.write_text(CONFIG + "  - 81.2.69.160/28\n")
    both, allowlist = planned_digest(cli, config, out), planned_digest(cli, config, out, "--only", "allowlist")
    assert both != allowlist
    serials = state_serials(out)

    refused = cli("apply", "-c", config, "-o", out, "--only", "allowlist", "--auto-approve", "--expect-digest", both)
    assert refused.exit_code == 1, refused.output
    assert f"approved digest {both}, this plan's digest {allowlist}" in refused.stderr
    assert state_serials(out) == serials, "nothing was applied"
    # Nor the other way round: a digest approved for allowlist/ alone does not apply both roots.
    refused = cli("apply", "-c", config, "-o", out, "--auto-approve", "--expect-digest", allowlist)
    assert refused.exit_code == 1, refused.output
    assert state_serials(out) == serials, "nothing was applied"

    applied = cli(
        "apply",
        "-c",
        config,
        "-o",
        out,
        "--only",
        "allowlist",
        "--auto-approve",
        "--expect-digest",
        allowlist,
        "--no-invalidate",
    )
    assert applied.exit_code == 0, applied.output
    after = state_serials(out)
    assert after["serving"] == serials["serving"] and after["allowlist"] != serials["allowlist"]


@pytest.mark.parametrize("value", ["abc", "g" * 64, "0" * 63, "$(reboot)"])
def test_a_malformed_digest_is_refused_before_terraform_runs(cli, deployment, value: str) -> None:
    config, out = deployment
    result = cli("apply", "-c", config, "-o", out, "--auto-approve", "--expect-digest", value)
    assert result.exit_code == 1
    assert "--expect-digest" in result.stderr and "64 hexadecimal characters" in result.stderr
    assert not (out / ".terraform").exists()


def test_the_summary_shows_the_digest(cli, deployment, tmp_path: Path) -> None:
    config, out = deployment
    summary = tmp_path / "plan.md"
    result = cli("plan", "-c", config, "-o", out, "--summary", summary, "--json")
    digest = json.loads(result.stdout)["digest"]
    assert f"**Plan digest:** `{digest}`" in summary.read_text()


def plan_of(directory: Path, env: dict[str, str]) -> dict:
    from iac.terraform.runner import Terraform

    old = dict(os.environ)
    os.environ.update(env)
    try:
        tf = Terraform(binary=str(TOOLS / "bin" / "terraform"), working_dir=directory)
        tf.init()
        tf.plan("digest.tfplan")
        return tf.show_json("digest.tfplan")
    finally:
        os.environ.clear()
        os.environ.update(old)


def test_the_digest_leaves_out_what_terraform_marks_sensitive(tmp_path: Path, terraform_env) -> None:
    """Two plans that differ only in a sensitive value have one digest; the value never enters it."""
    from iac.terraform.plan import summarize

    (tmp_path / "main.tf").write_text(
        'variable "secret" {\n  type      = string\n  sensitive = true\n}\n\n'
        'variable "name" {\n  type = string\n}\n\n'
        'resource "terraform_data" "key" {\n  input = { secret = var.secret, name = var.name }\n}\n\n'
        'output "secret" {\n  value     = var.secret\n  sensitive = true\n}\n'
    )

    def digest(secret: str, name: str) -> str:
        plan = plan_of(tmp_path, {**terraform_env, "TF_VAR_secret": secret, "TF_VAR_name": name})
        assert secret in json.dumps(plan), "the stand-in's plan holds the value: the digest must leave it out"
        return summarize(plan).digest

    first = digest("s3cr3t-one", "a")
    assert digest("s3cr3t-two", "a") == first
    assert digest("s3cr3t-one", "b") != first, "a value that is not sensitive is digested"
