"""The rendering's two root modules: `serving/` and `allowlist/` (the allow rules alone, in their own state).

What each root holds, their state prefixes, which root Terraform runs in for each command, and the upgrade of
an output directory holding the single-root layout of earlier versions (tests/fixtures/single-root, rendered
by iac 1233848) without a moment in which a live allow rule is planned for deletion.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import hcl2
import pytest

from conftest import EXAMPLE_NAMES, EXAMPLES
from test_render import unquote

SINGLE_ROOT = Path(__file__).resolve().parent / "fixtures" / "single-root"
IMPORT_ID = re.compile(r'^  id = "(projects/[^"]+)"$', re.MULTILINE)


def render(cli, config: Path, out: Path, *more: str):
    result = cli("render", "-c", config, "-o", out, *more)
    assert result.exit_code == 0, result.output
    return result


def tree(directory: Path) -> dict[str, bytes]:
    """Every file below `directory` (Terraform's working files and iac's staging aside), by relative path."""
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and ".terraform" not in path.parts
    }


def blocks(root: Path) -> dict[str, dict[str, object]]:
    """The top-level blocks of every .tf file below `root`, parsed by python-hcl2: kind -> "type.name" -> body."""
    found: dict[str, dict[str, object]] = {}
    for path in sorted(root.rglob("*.tf")):
        parsed = unquote(hcl2.loads(path.read_text()))
        assert isinstance(parsed, dict), path
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                for type_, named in block.items():
                    for name, body in named.items():
                        found.setdefault(kind, {})[f"{type_}.{name}"] = body
    return found


def rules_of(main_tf: str) -> list[tuple[int, tuple[str, ...]]]:
    """The rules a rendering's allowlist/main.tf states, read with python-hcl2 (not iac's own reader)."""
    parsed = unquote(hcl2.loads(main_tf))
    [module] = [body for block in parsed["module"] for body in block.values()]
    return [(int(rule["priority"]), tuple(rule["ranges"])) for rule in module["allowlist"]["rules"]]


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_each_root_module_holds_only_its_own_resources(example: str, cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    render(cli, EXAMPLES / example / "iac.yaml", out)
    for root in ("serving", "allowlist"):
        names = {p.name for p in (out / root).iterdir()}
        assert {"main.tf", "outputs.tf", "versions.tf", ".gitignore", "modules"} <= names, (root, names)
    serving, allowlist = blocks(out / "serving"), blocks(out / "allowlist")
    serving_types = {address.split(".")[0] for address in serving["resource"]}
    # The key, the bucket (created or read) and the service account are the serving root's alone.
    assert {"google_storage_hmac_key", "google_service_account", "google_compute_security_policy"} <= serving_types
    assert "google_storage_bucket" in serving_types or "data" in serving
    assert "google_compute_security_policy_rule" not in serving_types
    # The allowlist root: rules, and nothing else (no data source either: it reads nothing of the deployment).
    assert list(allowlist) == ["resource"]
    assert list(allowlist["resource"]) == ["google_compute_security_policy_rule.allow"]
    # What the allowlist root's Terraform reads (its comments aside) names no key, secret, bucket or other state.
    text = re.sub(r"#[^\n]*", "", "\n".join(p.read_text() for p in (out / "allowlist").rglob("*.tf"))).lower()
    for word in ("hmac", "secret", "google_storage", "service_account", "terraform_remote_state"):
        assert word not in text, word


def test_policies_deny_by_default_from_their_first_second_and_ignore_the_allow_rules(cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    render(cli, EXAMPLES / "documented" / "iac.yaml", out)
    policy = blocks(out / "serving")["resource"]["google_compute_security_policy.default"]
    assert isinstance(policy, dict)
    [rule] = policy["rule"]
    assert (rule["action"], rule["priority"]) == ("deny(403)", 2147483647)
    assert rule["match"][0]["config"][0]["src_ip_ranges"] == ["*"]
    assert "dynamic" not in policy  # no allow rule is declared here any more
    [lifecycle] = policy["lifecycle"]
    assert lifecycle["ignore_changes"] == ["${rule}"] or lifecycle["ignore_changes"] == ["rule"]
    # Each rule resource names its policy as the serving module names it, from `name` alone.
    rules = (out / "allowlist" / "modules" / "gcp-direct-access-allowlist" / "main.tf").read_text()
    assert 'edge    = "${var.name}-edge-policy"' in rules
    assert 'backend = "${var.name}-backend-policy"' in rules
    serving = (out / "serving" / "modules" / "gcp-direct-access" / "security-policy.tf").read_text()
    assert 'name        = "${var.name}-${each.key}-policy"' in serving


@pytest.mark.parametrize(
    ("prefix", "serving", "allowlist"),
    [
        ("envs/prod", "envs/prod", "envs/prod/allowlist"),
        ("envs/prod/", "envs/prod/", "envs/prod/allowlist"),
        (None, None, "allowlist"),
    ],
)
def test_state_prefixes(cli, tmp_path: Path, prefix: str | None, serving: str | None, allowlist: str) -> None:
    config = tmp_path / "iac.yaml"
    text = (EXAMPLES / "documented" / "iac.yaml").read_text()
    backend = "terraform:\n  backend:\n    gcs:\n      bucket: acme-tfstate\n" + (
        f"      prefix: {json.dumps(prefix)}\n" if prefix is not None else ""
    )
    config.write_text(re.sub(r"(?ms)^terraform:\n(  .*\n)+", "", text) + backend)
    out = tmp_path / "out"
    render(cli, config, out)
    found = {}
    for root in ("serving", "allowlist"):
        [block] = unquote(hcl2.loads((out / root / "backend.tf").read_text()))["terraform"]
        [gcs] = [body for backend in block["backend"] for body in backend.values()]
        found[root] = (gcs["bucket"], gcs.get("prefix"))
    assert found == {"serving": ("acme-tfstate", serving), "allowlist": ("acme-tfstate", allowlist)}


def test_a_one_address_rotation_changes_one_rule_per_policy_and_nothing_in_serving(cli, tmp_path: Path) -> None:
    config = tmp_path / "iac.yaml"
    shutil.copy(EXAMPLES / "large-allowlist" / "iac.yaml", config)
    out = tmp_path / "build"
    render(cli, config, out)
    before = tree(out)
    edited = cli("allowlist", "add", "52.14.0.77/32", "-c", config)
    assert edited.exit_code == 0, edited.output
    render(cli, config, out)
    after = tree(out)
    assert {n: b for n, b in after.items() if n.startswith("serving/")} == {
        n: b for n, b in before.items() if n.startswith("serving/")
    }
    changed = sorted(n for n in after if after[n] != before.get(n))
    assert changed == ["allowlist/main.tf"]
    old, new = rules_of(before["allowlist/main.tf"].decode()), rules_of(after["allowlist/main.tf"].decode())
    differing = [rule for rule in new if rule not in old]
    assert len(differing) == 1 and "52.14.0.77/32" in differing[0][1]
    assert [p for p, _ in old] == [p for p, _ in new] or len(new) == len(old) + 1
    # The rule is one resource a policy: the one rule changes in each policy, keyed by priority.
    assert len([rule for rule in old if rule not in new]) <= 1


def upgrade_fixture(tmp_path: Path, example: str) -> tuple[Path, Path]:
    """A config and, beside it, build/ holding its single-root rendering by an earlier iac (with its ledger)."""
    config = tmp_path / "iac.yaml"
    shutil.copy(EXAMPLES / example / "iac.yaml", config)
    out = tmp_path / "build"
    shutil.copytree(SINGLE_ROOT / example, out)
    return config, out


@pytest.mark.parametrize("example", ["documented", "large-allowlist"])
def test_upgrade_moves_the_rendering_and_imports_every_deployed_rule(example: str, cli, tmp_path: Path) -> None:
    config, out = upgrade_fixture(tmp_path, example)
    old_rules = rules_of_single_root((out / "main.tf").read_text())
    result = render(cli, config, out)
    assert "upgraded from the single-root layout" in result.stdout
    files = tree(out)
    # Nothing of the single-root layout is left at the top; both roots are complete.
    assert sorted(n for n in files if "/" not in n) == [".gitignore", ".iac-files"]
    assert not (out / "modules").exists()
    assert "serving/modules/gcp-direct-access/main.tf" in files
    assert "allowlist/modules/gcp-direct-access-allowlist/main.tf" in files
    # The rules keep their priorities and ranges, and each is imported, in both policies, by its import id.
    assert rules_of(files["allowlist/main.tf"].decode()) == old_rules
    imports = files["allowlist/imports.tf"].decode()
    import yaml

    settings = yaml.safe_load(config.read_text())
    project, name = settings["project"], settings.get("name", "encord-da")
    expected = sorted(
        f"projects/{project}/global/securityPolicies/{name}-{policy}-policy/priority/{priority}"
        for priority, _ in old_rules
        for policy in ("edge", "backend")
    )
    assert sorted(IMPORT_ID.findall(imports)) == expected
    keys = re.findall(r"google_compute_security_policy_rule\.allow\[\"([a-z]+-\d+)\"\]", imports)
    assert sorted(keys) == sorted(f"{policy}-{priority}" for priority, _ in old_rules for policy in ("edge", "backend"))
    # A re-render is byte-identical and keeps the import blocks; --check agrees.
    render(cli, config, out)
    assert tree(out) == files
    assert cli("render", "-c", config, "-o", out, "--check").exit_code == 0


def rules_of_single_root(main_tf: str) -> list[tuple[int, tuple[str, ...]]]:
    parsed = unquote(hcl2.loads(main_tf))
    [module] = [body for block in parsed["module"] for body in block.values()]
    return [(int(rule["priority"]), tuple(rule["ranges"])) for rule in module["allowlist"]["rules"]]


def test_no_rendering_declares_an_allow_rule_in_serving_and_none_deletes_one(cli, tmp_path: Path) -> None:
    """On the rendered text: after the upgrade, serving's policies declare no allow rule and ignore the rules they
    hold, and every allow rule of the single-root rendering is declared (and imported) in allowlist/."""
    config, out = upgrade_fixture(tmp_path, "large-allowlist")
    old_rules = rules_of_single_root((out / "main.tf").read_text())
    render(cli, config, out)
    serving = "\n".join(p.read_text() for p in (out / "serving").rglob("*.tf"))
    assert '"allow"' not in serving and "allow_rules" not in serving
    assert re.search(r"lifecycle \{\n\s+#[^\n]*\n\s+ignore_changes = \[rule\]", serving)
    assert set(rules_of((out / "allowlist" / "main.tf").read_text())) >= set(old_rules)


def test_a_rule_still_adopted_is_not_removed_until_the_import_file_is_deleted(cli, tmp_path: Path) -> None:
    config, out = upgrade_fixture(tmp_path, "documented")
    render(cli, config, out)
    original = config.read_text()
    rendered = tree(out)
    # Removing both entries would drop rule 1000, which allowlist/imports.tf adopts: refused, nothing written.
    removed = cli("allowlist", "set", "--from", "-", "-c", config, "--allow-empty", input="")
    assert removed.exit_code == 1, removed.output
    assert "allowlist/imports.tf" in removed.stderr and "Traceback" not in removed.output
    assert config.read_text() == original and tree(out) == rendered
    # Once the import is applied, the user deletes the file: the rule can go.
    (out / "allowlist" / "imports.tf").unlink()
    render(cli, config, out)
    assert not (out / "allowlist" / "imports.tf").exists()
    assert cli("render", "-c", config, "-o", out, "--check").exit_code == 0
    removed = cli("allowlist", "set", "--from", "-", "-c", config, "--allow-empty", input="")
    assert removed.exit_code == 0, removed.output


def test_render_refuses_to_drop_an_adopted_rule_edited_out_by_hand(cli, tmp_path: Path) -> None:
    config, out = upgrade_fixture(tmp_path, "documented")
    render(cli, config, out)
    rendered = tree(out)
    config.write_text(config.read_text().replace("allowlist:", "allowlist_allow_empty: true\nallowlist: []\nx_old:", 1))
    config.write_text(re.sub(r"(?m)^x_old:\n(  - .*\n)+", "", config.read_text()))
    result = cli("render", "-c", config, "-o", out)
    assert result.exit_code == 1, result.output
    assert "1000" in result.stderr and "allowlist/imports.tf" in result.stderr
    assert tree(out) == rendered


def test_upgrade_moves_a_local_state_into_serving_and_copies_the_lock_file(cli, tmp_path: Path) -> None:
    config, out = upgrade_fixture(tmp_path, "documented")
    (out / "terraform.tfstate").write_text('{"version": 4, "serial": 7}\n')
    (out / "terraform.tfstate.backup").write_text('{"version": 4, "serial": 6}\n')
    (out / ".terraform.lock.hcl").write_text("# lock\n")
    result = render(cli, config, out)
    assert (out / "serving" / "terraform.tfstate").read_text() == '{"version": 4, "serial": 7}\n'
    assert (out / "serving" / "terraform.tfstate.backup").read_text() == '{"version": 4, "serial": 6}\n'
    assert not (out / "terraform.tfstate").exists()
    for root in ("serving", "allowlist"):
        assert (out / root / ".terraform.lock.hcl").read_text() == "# lock\n"
    assert "moved the local state" in result.stdout
    # A second state at the top, beside serving's: which is current is the user's to say.
    (out / "terraform.tfstate").write_text('{"version": 4, "serial": 1}\n')
    again = cli("render", "-c", config, "-o", out)
    assert again.exit_code == 1 and "both exist" in again.stderr
    assert (out / "serving" / "terraform.tfstate").read_text() == '{"version": 4, "serial": 7}\n'


# --- which root Terraform runs in ------------------------------------------------------------------------------

# A terraform that logs each run's root module (the -chdir directory's name) and command, then runs the real one.
LOGGING_TERRAFORM = """\
#!{python}
import os, sys
args = sys.argv[1:]
where = next((a[len("-chdir="):] for a in args if a.startswith("-chdir=")), ".")
command = next((a for a in args if not a.startswith("-")), "")
with open(os.environ["TF_RUN_LOG"], "a") as log:
    log.write(f"{{os.path.basename(where)}} {{command}}\\n")
os.execv(os.environ["REAL_TERRAFORM"], [os.environ["REAL_TERRAFORM"], *args])
"""


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, builtin_deployment, terraform: str):
    """Terraform runs by root module and command, as iac made them since the last call (`runs()`)."""
    wrapper = tmp_path / "terraform-logging"
    wrapper.write_text(LOGGING_TERRAFORM.format(python=sys.executable))
    wrapper.chmod(0o755)
    log = tmp_path / "terraform-runs.log"
    monkeypatch.setenv("TF_RUN_LOG", str(log))
    monkeypatch.setenv("REAL_TERRAFORM", terraform)
    monkeypatch.setenv("IAC_TERRAFORM", str(wrapper))

    def taken() -> list[tuple[str, str]]:
        lines = log.read_text().splitlines() if log.exists() else []
        log.unlink(missing_ok=True)
        return [tuple(line.split(" ", 1)) for line in lines]  # type: ignore[misc]

    return taken


@pytest.fixture
def deployed(cli, tmp_path: Path, runs, compute_stub):
    """A config applied on a real Terraform core (built-in resources), with the cache invalidation served."""
    from test_apply import CONFIG, INVALIDATE_PATH, done_operation

    compute_stub.expect_request(INVALIDATE_PATH, method="POST").respond_with_handler(done_operation)
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "build"
    applied = cli("apply", "-c", config, "-o", out, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    runs()
    return config, out


def roots(taken: list[tuple[str, str]]) -> list[str]:
    """The roots in the order Terraform first ran in each."""
    return list(dict.fromkeys(root for root, _ in taken))


def test_plan_runs_both_roots_serving_first(cli, deployed, runs) -> None:
    config, out = deployed
    planned = cli("plan", "-c", config, "-o", out, "--json")
    assert planned.exit_code == 0, planned.output
    taken = runs()
    assert roots(taken) == ["serving", "allowlist"]
    assert taken.index(("allowlist", "plan")) > taken.index(("serving", "plan"))
    document = json.loads(planned.stdout)
    assert list(document["roots"]) == ["serving", "allowlist"]


def test_only_runs_the_root_named(cli, deployed, runs) -> None:
    config, out = deployed
    for root in ("allowlist", "serving"):
        planned = cli("plan", "-c", config, "-o", out, "--only", root, "--json")
        assert planned.exit_code == 0, planned.output
        assert roots(runs()) == [root]
        assert list(json.loads(planned.stdout)["roots"]) == [root]
    wrong = cli("plan", "-c", config, "-o", out, "--only", "everything")
    assert wrong.exit_code == 1 and "--only: 'everything' is not a root module" in wrong.stderr
    assert runs() == []


def test_a_rotation_with_apply_runs_terraform_in_allowlist_only(cli, deployed, runs, compute_stub) -> None:
    config, out = deployed
    serving_state = (out / "serving" / "terraform.tfstate").read_bytes()
    rotated = cli("allowlist", "add", "52.14.0.9/32", "-c", config, "-o", out, "--apply", "--auto-approve")
    assert rotated.exit_code == 0, rotated.output
    assert roots(runs()) == ["allowlist"]
    assert (out / "serving" / "terraform.tfstate").read_bytes() == serving_state
    state = json.loads((out / "allowlist" / "terraform.tfstate").read_text())
    assert any("52.14.0.9/32" in json.dumps(r) for r in state["resources"])
    assert "invalidateCache" in " ".join(request.path for request, _ in compute_stub.log)


def test_apply_after_an_allowlist_change_alone_runs_allowlist_only(cli, deployed, runs) -> None:
    config, out = deployed
    config.write_text(config.read_text() + "  - 52.14.0.10/32\n")
    applied = cli("apply", "-c", config, "-o", out, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert roots(runs()) == ["allowlist"]
    # A change to the serving root (here the domain) runs both again.
    config.write_text(config.read_text().replace("encord-directaccess.acme.com", "data.acme.com"))
    applied = cli("apply", "-c", config, "-o", out, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert roots(runs()) == ["serving", "allowlist"]


def test_apply_runs_serving_when_its_last_apply_is_not_known(cli, deployed, runs) -> None:
    """Without the note of serving's last apply (a fresh checkout, a failed apply), apply runs both roots."""
    config, out = deployed
    (out / "serving" / ".iac-applied").unlink()
    config.write_text(config.read_text() + "  - 52.14.0.11/32\n")
    applied = cli("apply", "-c", config, "-o", out, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert roots(runs()) == ["serving", "allowlist"]


def test_a_note_that_is_not_a_regular_file_is_read_as_no_note(cli, deployed, runs) -> None:
    """A FIFO (or anything but a regular file) where the note of serving's last apply would be is
    never read (no hang): the note counts as missing, and both roots run."""
    config, out = deployed
    note = out / "serving" / ".iac-applied"
    note.unlink()
    os.mkfifo(note)
    config.write_text(config.read_text() + "  - 52.14.0.12/32\n")
    applied = cli("apply", "-c", config, "-o", out, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert roots(runs()) == ["serving", "allowlist"]


def test_hmac_rotate_applies_serving_only(cli, deployed, runs) -> None:
    from fake_deployment import render_builtin_with_hmac_key
    from iac.cli.common import Services

    config, out = deployed
    cli.services = Services(renderer=render_builtin_with_hmac_key)
    rotated = cli("hmac", "rotate", "-c", config, "-o", out, "--apply", "--auto-approve")
    assert rotated.exit_code == 0, rotated.output
    assert roots(runs()) == ["serving"]


# --- the upgrade on a real Terraform core -----------------------------------------------------------------------

# The single-root layout's shape in built-in resources: both policies hold the allow rules (as their input).
SINGLE_ROOT_FAKE = """\
terraform {{
  required_version = ">= 1.5.0"
}}

locals {{
  project_id = "my-gcp-project"
  name       = "encord-da"
  allowlist = {{
    rules = [
      {{
        priority = 1000
        ranges = [
          "39.42.20.11/32",
          "130.192.120.23/32",
        ]
      }},
    ]
  }}
}}

resource "terraform_data" "edge_policy" {{
  input = local.allowlist.rules
}}

resource "terraform_data" "backend_policy" {{
  input = local.allowlist.rules
}}

resource "terraform_data" "url_map" {{
  input = "encord-da-url-map"
}}
"""


def test_upgrade_on_a_real_core_imports_the_rules_and_plans_no_deletion(
    cli, tmp_path: Path, builtin_deployment, terraform: str, terraform_env
) -> None:
    from test_apply import CONFIG

    from iac.files.ledger import LEDGER, Deployment, ledger_bytes

    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "build"
    out.mkdir()
    (out / "main.tf").write_text(SINGLE_ROOT_FAKE.format())
    deployment = Deployment("my-gcp-project", "encord-da")
    (out / LEDGER).write_bytes(ledger_bytes("render", deployment, ["main.tf"], complete=True))
    env = {**os.environ, **terraform_env}
    for command in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        done = subprocess.run([terraform, f"-chdir={out}", *command], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr

    planned = cli("plan", "-c", config, "-o", out, "--json")
    assert planned.exit_code == 2, planned.output
    document = json.loads(planned.stdout)
    actions = [(c["root"], c["address"], c["action"]) for c in document["resources"]]
    # Nothing is deleted or replaced: the policies keep their rules (serving ignores them), the rules are imported.
    assert not [a for a in actions if a[2] in ("delete", "replace", "forget")], actions
    assert not [a for a in actions if a[0] == "serving" and "policy" in a[1]], actions
    assert sorted(a[1] for a in actions if a[0] == "allowlist") == [
        'terraform_data.rule["backend-1000"]',
        'terraform_data.rule["edge-1000"]',
    ]
    assert (out / "serving" / "terraform.tfstate").is_file() and not (out / "terraform.tfstate").exists()
    imports = (out / "allowlist" / "imports.tf").read_text()
    assert "projects/my-gcp-project/global/securityPolicies/encord-da-edge-policy/priority/1000" in imports

    applied = cli("apply", "-c", config, "-o", out, "--auto-approve", "--json")
    assert applied.exit_code == 0, applied.output
    state = json.loads((out / "allowlist" / "terraform.tfstate").read_text())
    [rules] = [r for r in state["resources"] if r["name"] == "rule"]
    assert sorted(i["index_key"] for i in rules["instances"]) == ["backend-1000", "edge-1000"]
    policies = ("edge", "backend")
    assert {i["attributes"]["id"] for i in rules["instances"]} == {
        f"projects/my-gcp-project/global/securityPolicies/encord-da-{p}-policy/priority/1000" for p in policies
    }
    serving = json.loads((out / "serving" / "terraform.tfstate").read_text())
    policies = {r["name"] for r in serving["resources"]}
    assert {"edge_policy", "backend_policy", "url_map"} <= policies


def test_an_unreadable_import_file_is_an_error_not_a_silent_drop(cli, tmp_path: Path) -> None:
    config, out = upgrade_fixture(tmp_path, "documented")
    render(cli, config, out)
    imports = out / "allowlist" / "imports.tf"
    imports.unlink()
    os.mkfifo(imports)
    result = cli("render", "-c", config, "-o", out)
    assert result.exit_code == 1, result.output
    assert f"{imports}: cannot read it" in result.stderr and "Traceback" not in result.output
    assert imports.is_fifo()
