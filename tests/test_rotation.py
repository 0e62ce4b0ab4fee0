"""Rotating the allowlist on a live deployment: stable rules, no lost update, a safe and re-runnable --apply."""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import iac.deploy.flow
import iac.terraform.state
from iac.allowlist.rules import Rule
from iac.config.load import load_config

HEADER = """\
project: my-gcp-project
name: encord-da
domain: encord-directaccess.acme.com
bucket:
  name: encord-data
  location: EU
allowlist_max_rules: 100
allowlist:
"""


def spread(count: int, start: str = "81.0.0.0") -> list[str]:
    """`count` global /32s that do not merge (every other address)."""
    first = int(ipaddress.ip_address(start))
    return [f"{ipaddress.ip_address(first + 2 * i)}/32" for i in range(count)]


def write_config(path: Path, ranges: list[str]) -> Path:
    path.write_text(HEADER + "".join(f"  - {r}\n" for r in ranges))
    return path


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def main_tf_rules(directory: Path) -> list[dict]:
    """The rules the allowlist root's main.tf states, read with python-hcl2 (not iac's own reader)."""
    from test_render import parse_dir

    [module] = [m["allowlist"] for m in parse_dir(directory / "allowlist")["module"]]
    return module["allowlist"]["rules"]


def tree(directory: Path) -> dict[Path, bytes]:
    return {p.relative_to(directory): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def under(files: dict[Path, bytes], root: str) -> dict[Path, bytes]:
    return {name: data for name, data in files.items() if name.parts[0] == root}


# --- render: the reviewed diff of a one-address rotation is one rule ------------------------------------


@pytest.mark.parametrize(
    ("edit", "expected_lines"),
    [
        # Sorts before everything (chunking the sorted list would shift all 50 rules); every rule is
        # full, so one new rule literal holds it: six lines, all of them that rule's.
        ("add-first", 6),
        ("remove-middle", 1),
        ("replace", 2),  # the freed place is reused: one rule, one line out and one in
    ],
)
def test_one_address_rotation_changes_one_rule_literal(cli, tmp_path: Path, edit: str, expected_lines: int) -> None:
    ranges = spread(500, "81.0.0.100")
    config = write_config(tmp_path / "iac.yaml", ranges)
    out = tmp_path / "build"
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    before = tree(out)
    rules_before = main_tf_rules(out)
    assert len(rules_before) == 50

    new = {
        "add-first": ["81.0.0.2/32", *ranges],
        "remove-middle": [r for r in ranges if r != ranges[250]],
        "replace": [*[r for r in ranges if r != ranges[250]], "91.198.1.1/32"],
    }[edit]
    write_config(config, new)
    result = cli("render", "-c", config, "-o", out)
    assert result.exit_code == 0, result.output
    assert re.search(r"Cloud Armor rules changed: 1 of 5[01], compared with the rendering in", result.stdout)

    after = tree(out)
    # Per root: not a byte changes under serving/, and under allowlist/ only the rules' literal.
    assert under(after, "serving") == under(before, "serving")
    rules_file = Path("allowlist/main.tf")
    assert {name for name in after if after[name] != before.get(name)} == {rules_file}
    lines = changed_lines(before[rules_file].decode(), after[rules_file].decode())
    assert len(lines) == expected_lines, lines
    old = {rule["priority"]: rule["ranges"] for rule in rules_before}
    new_rules = {rule["priority"]: rule["ranges"] for rule in main_tf_rules(out)}
    assert len({p for p in old.keys() | new_rules.keys() if old.get(p) != new_rules.get(p)}) == 1


def test_same_config_and_same_rendering_give_the_same_bytes(cli, tmp_path: Path) -> None:
    config = write_config(tmp_path / "iac.yaml", spread(95))
    out = tmp_path / "build"
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    write_config(config, spread(95)[5:] + spread(3, "91.198.1.1"))
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    first = tree(out)
    assert {name.parts[0] for name in first} >= {"serving", "allowlist"}
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    # Byte-identical in each root (and the ledger and .gitignore at the top).
    assert tree(out) == first


def test_fresh_render_packs_optimally(cli, tmp_path: Path) -> None:
    config = write_config(tmp_path / "iac.yaml", spread(95))
    out = tmp_path / "build"
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    rules = main_tf_rules(out)
    assert [r["priority"] for r in rules] == list(range(1000, 1010))
    assert [len(r["ranges"]) for r in rules] == [10] * 9 + [5]


def test_another_deployments_rendering_is_not_the_current_assignment(cli, tmp_path: Path) -> None:
    config = write_config(tmp_path / "iac.yaml", spread(30))
    out = tmp_path / "build"
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    other = tmp_path / "other.yaml"
    other.write_text(
        config.read_text().replace("name: encord-da", "name: encord-db").replace("81.0.0.0/32", "81.9.0.0/32")
    )
    # Another deployment's rendering is refused: rendering here would replace it.
    refused = cli("render", "-c", other, "-o", out)
    assert refused.exit_code == 1
    assert "wrote for deployment encord-da of project" in refused.stderr
    assert "not for this config's deployment encord-db of project" in refused.stderr
    # A directory of an earlier version (the single-root layout, its ledger a plain list) records no deployment:
    # rendering there is allowed, and the other deployment's main.tf is not taken for the current assignment:
    # packed afresh, not shaped by its rules, and none of its rules adopted.
    earlier = tmp_path / "earlier"
    shutil.copytree(Path(__file__).parent / "fixtures" / "single-root" / "documented", earlier)
    names = json.loads((earlier / ".iac-files").read_text())["files"]
    (earlier / ".iac-files").write_text("# Files written by `iac render`\n" + "".join(f"{n}\n" for n in names))
    assert cli("render", "-c", config, "-o", earlier).exit_code == 0
    assert (earlier / "allowlist" / "imports.tf").is_file(), "the same deployment's rules are adopted"
    shutil.rmtree(earlier)
    shutil.copytree(Path(__file__).parent / "fixtures" / "single-root" / "documented", earlier)
    (earlier / ".iac-files").write_text("# Files written by `iac render`\n" + "".join(f"{n}\n" for n in names))
    assert cli("render", "-c", other, "-o", earlier).exit_code == 0
    assert [len(r["ranges"]) for r in main_tf_rules(earlier)] == [10, 10, 10]
    assert not (earlier / "allowlist" / "imports.tf").exists()


def test_repack_is_explicit_and_announced(cli, tmp_path: Path) -> None:
    ranges = spread(30)
    config = write_config(tmp_path / "iac.yaml", ranges)
    out = tmp_path / "build"
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    write_config(config, ranges[::2])  # half of every rule goes: 3 rules of 5
    assert cli("render", "-c", config, "-o", out).exit_code == 0
    assert [len(r["ranges"]) for r in main_tf_rules(out)] == [5, 5, 5]
    result = cli("render", "-c", config, "-o", out, "--repack")
    assert result.exit_code == 0
    assert "repacking the allowlist: 3 rules change" in result.stderr
    assert [len(r["ranges"]) for r in main_tf_rules(out)] == [10, 5]


# --- the deployed assignment, read from the Terraform state -----------------------------------------------

# Answers `show -json` in root module R with the state in $FAKE_STATES/R.json (none there: an empty state).
FAKE_TERRAFORM = """\
#!{python}
import json, os, sys
chdir = [a[len("-chdir="):] for a in sys.argv[1:] if a.startswith("-chdir=")]
root = os.path.basename(chdir[0]) if chdir else ""
args = [a for a in sys.argv[1:] if not a.startswith("-chdir=")]
if args[0] == "init":
    print("Terraform has been successfully initialized!")
elif args[0] == "show" and len([a for a in args[1:] if not a.startswith("-")]) == 0:
    if os.environ.get("FAKE_SHOW_FAILS"):
        sys.exit("Error: Failed to load state: the backend answered 503")
    state = os.path.join(os.environ["FAKE_STATES"], root + ".json")
    print(open(state).read() if os.path.exists(state) else '{{"format_version": "1.0"}}')
else:
    sys.exit("unexpected: " + " ".join(args))
"""


def policy(key: str, rules: list[tuple[int, list[str]]]) -> dict:
    """A google_compute_security_policy as `terraform show -json` lists it (Terraform's JSON state format)."""
    values = [
        {
            "action": action,
            "priority": priority,
            "description": "",
            "match": [{"config": [{"src_ip_ranges": ranges}], "versioned_expr": "SRC_IPS_V1", "expr": []}],
            "preview": False,
        }
        for action, priority, ranges in [("allow", p, r) for p, r in rules] + [("deny(403)", 2147483647, ["*"])]
    ]
    return {
        "address": f'module.direct_access.google_compute_security_policy.default["{key}"]',
        "mode": "managed",
        "type": "google_compute_security_policy",
        "name": "default",
        "index": key,
        "provider_name": "registry.terraform.io/hashicorp/google",
        "schema_version": 0,
        "values": {"name": f"encord-da-{key}-policy", "rule": values, "type": "CLOUD_ARMOR"},
        "sensitive_values": {},
    }


def rule(key: str, priority: int, ranges: list[str]) -> dict:
    """A google_compute_security_policy_rule of the allowlist root as `terraform show -json` lists it."""
    return {
        "address": f'module.allowlist.google_compute_security_policy_rule.allow["{key}-{priority}"]',
        "mode": "managed",
        "type": "google_compute_security_policy_rule",
        "name": "allow",
        "index": f"{key}-{priority}",
        "provider_name": "registry.terraform.io/hashicorp/google",
        "schema_version": 0,
        "values": {
            "action": "allow",
            "priority": priority,
            "security_policy": f"encord-da-{key}-policy",
            "match": [{"config": [{"src_ip_ranges": ranges}], "versioned_expr": "SRC_IPS_V1", "expr": []}],
            "preview": False,
        },
        "sensitive_values": {},
    }


def state_document(rules: list[tuple[int, list[str]]], *, standalone: bool = False) -> dict:
    """A state holding `rules`: inline in the policies (the single-root layout's state), or `standalone` as the
    allowlist root's rule resources."""
    if standalone:
        module = {
            "address": "module.allowlist",
            "resources": [rule(key, p, r) for key in ("backend", "edge") for p, r in rules],
        }
    else:
        module = {"address": "module.direct_access", "resources": [policy("backend", rules), policy("edge", rules)]}
    return {
        "format_version": "1.0",
        "terraform_version": "1.9.8",
        "values": {"outputs": {}, "root_module": {"child_modules": [module]}},
    }


def test_rules_from_state_reads_the_deployed_allow_rules() -> None:
    deployed = [(1000, ["81.0.0.4/32", "81.0.0.2/32"]), (1003, ["2a00:1450:4001::/48"])]
    assert iac.terraform.state.rules_from_state(state_document(deployed)) == (
        Rule(1000, ("81.0.0.4/32", "81.0.0.2/32")),
        Rule(1003, ("2a00:1450:4001::/48",)),
    )
    # The allowlist root's standalone rules read the same, whichever policy lists its rule first.
    standalone = state_document(deployed, standalone=True)
    assert iac.terraform.state.rules_from_state(standalone) == iac.terraform.state.rules_from_state(
        state_document(deployed)
    )
    assert iac.terraform.state.rules_from_state({"format_version": "1.0"}) is None  # nothing deployed


DEPLOYED_RANGES = spread(12)
# Deployed by hand (or by another machine) in an order no fresh packing would choose.
DEPLOYED = [(1000, DEPLOYED_RANGES[6:12]), (1007, DEPLOYED_RANGES[0:6])]


@pytest.fixture
def fake_states(tmp_path: Path) -> Path:
    """Where the fake terraform finds each root's state (`<root>.json`); the allowlist root's holds DEPLOYED."""
    states = tmp_path / "states"
    states.mkdir()
    (states / "allowlist.json").write_text(json.dumps(state_document(DEPLOYED, standalone=True)))
    return states


@pytest.fixture
def fake_terraform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_states: Path) -> str:
    """A terraform that answers `init`, and `show -json` with each root's state in `fake_states`."""
    fake = tmp_path / "terraform"
    fake.write_text(FAKE_TERRAFORM.format(python=sys.executable))
    fake.chmod(0o755)
    monkeypatch.setenv("FAKE_STATES", str(fake_states))
    return str(fake)


@pytest.mark.parametrize("deployed_in", ["allowlist", "single-root serving"])
def test_empty_build_uses_the_rules_deployed_in_the_state(
    tmp_path: Path, fake_terraform: str, fake_states: Path, deployed_in: str
) -> None:
    """The allowlist root's state gives the rules; a deployment of the single-root layout (its rules inline in
    the serving state's policies, the allowlist state empty) gives them too, and the allowlist root adopts each."""
    ranges, fake = DEPLOYED_RANGES, fake_terraform
    if deployed_in != "allowlist":
        (fake_states / "allowlist.json").unlink()
        (fake_states / "serving.json").write_text(json.dumps(state_document(DEPLOYED)))
    config = write_config(tmp_path / "iac.yaml", [*ranges, "91.198.1.1/32"])
    loaded = load_config(config)
    out = tmp_path / "build"
    messages: list[str] = []
    with iac.deploy.flow.workspace(loaded, out, iac.deploy.flow.TerraformRun(str(fake), "300s", messages.append)):
        rules = main_tf_rules(out)
    assert [(r["priority"], r["ranges"]) for r in rules] == [
        (1000, [*ranges[6:12], "91.198.1.1/32"]),
        (1007, ranges[0:6]),
    ]
    assert any("keeping the 2 allow rules deployed (read from the Terraform state)" in m for m in messages)
    imports = out / "allowlist" / "imports.tf"
    if deployed_in == "allowlist":
        assert not imports.exists()
    else:
        ids = re.findall(r'id = "([^"]+)"', imports.read_text())
        assert sorted(ids) == sorted(
            f"projects/my-gcp-project/global/securityPolicies/encord-da-{policy}-policy/priority/{priority}"
            for policy in ("edge", "backend")
            for priority in (1000, 1007)
        )


def test_a_failed_state_read_leaves_a_provisional_rendering_that_is_never_taken_as_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_terraform: str
) -> None:
    """If init or the state read fails, build/ holds rules packed without knowing the deployed ones: the
    next run must still read the deployed rules, or it would move every range of a live deployment."""
    from iac.allowlist.baseline import of_rendering
    from iac.errors import IacError

    fake, deployed = fake_terraform, DEPLOYED
    loaded = load_config(write_config(tmp_path / "iac.yaml", DEPLOYED_RANGES))
    out = tmp_path / "build"

    monkeypatch.setenv("FAKE_SHOW_FAILS", "1")
    with (
        pytest.raises(IacError, match="Failed to load state"),
        iac.deploy.flow.workspace(loaded, out, iac.deploy.flow.TerraformRun(str(fake), "300s", lambda message: None)),
    ):
        pass
    assert "# PROVISIONAL: packed before the deployed rules were read" in (out / "allowlist" / "main.tf").read_text()
    assert of_rendering(out, loaded.config).current is None

    monkeypatch.delenv("FAKE_SHOW_FAILS")
    with iac.deploy.flow.workspace(loaded, out, iac.deploy.flow.TerraformRun(str(fake), "300s", lambda message: None)):
        assert [(r["priority"], r["ranges"]) for r in main_tf_rules(out)] == [(p, r) for p, r in deployed]
    assert "PROVISIONAL" not in (out / "allowlist" / "main.tf").read_text()
    assert of_rendering(out, loaded.config).current is not None


# --- the edit commands show the rule change ---------------------------------------------------------------


def test_edits_show_which_rules_change(cli, tmp_path: Path) -> None:
    ranges = spread(25)
    config = write_config(tmp_path / "iac.yaml", ranges)
    out = tmp_path / "build"
    assert cli("render", "-c", config, "-o", out).exit_code == 0

    added = cli("allowlist", "add", "91.198.1.1", "-c", config, "-o", out, "--json")
    assert added.exit_code == 0, added.output
    document = json.loads(added.stdout)
    assert document["rules_changed"] == [{"priority": 1002, "added": ["91.198.1.1/32"], "removed": []}]
    assert "rule 1002: +91.198.1.1/32" in added.stderr
    assert cli("render", "-c", config, "-o", out).exit_code == 0

    removed = cli("allowlist", "remove", ranges[3], "-c", config, "-o", out)
    assert removed.exit_code == 0, removed.output
    assert f"rule 1000: -{ranges[3]}" in removed.stdout

    listed = cli("allowlist", "list", "-c", config, "-o", out, "--json")
    rules = json.loads(listed.stdout)["rules"]
    # build/ is not rendered again yet: the list shows what the next render will write.
    assert [r["priority"] for r in rules] == [1000, 1001, 1002]
    assert "91.198.1.1/32" in rules[2]["ranges"]
    assert ranges[3] not in rules[0]["ranges"] and len(rules[0]["ranges"]) == 9


# --- no lost update ----------------------------------------------------------------------------------------


def test_concurrent_adds_never_lose_an_update(tmp_path: Path) -> None:
    config = write_config(tmp_path / "iac.yaml", spread(5))
    env = dict(os.environ, IAC_LOCK_TIMEOUT="60s")
    addresses = spread(40, "91.198.0.0")
    for round_number in range(20):
        pair = addresses[2 * round_number : 2 * round_number + 2]
        before = config.read_bytes()
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "iac",
                    "allowlist",
                    "add",
                    address,
                    "-c",
                    str(config),
                    "-o",
                    str(tmp_path / "b"),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for address in pair
        ]
        results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in processes]  # type: ignore[union-attr]
        text = config.read_text()
        for address, (code, _out, err) in zip(pair, results, strict=True):
            assert "Traceback" not in err
            if code == 0:
                assert f"- {address}\n" in text, f"round {round_number}: {address} printed 'wrote' but was lost"
            else:
                assert code == 1 and "nothing" in err, err
        assert any(code == 0 for code, _, _ in results)
        assert text != before.decode()


def test_a_held_lock_makes_the_edit_wait_then_fail_with_nothing_changed(cli, tmp_path: Path) -> None:
    config = write_config(tmp_path / "iac.yaml", spread(5))
    before = config.read_bytes()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from iac.files.locks import locked
                with locked(Path({str(config)!r}), 5):
                    print("held", flush=True)
                    time.sleep(30)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = cli("allowlist", "add", "91.198.1.1", "-c", config, "--lock-timeout", "1s")
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 1
    assert "another iac command is editing this file" in result.stderr
    assert f"its directory {tmp_path}" in result.stderr and "--lock-timeout" in result.stderr
    assert config.read_bytes() == before


def test_a_bad_lock_timeout_is_a_clear_error(cli, tmp_path: Path) -> None:
    config = write_config(tmp_path / "iac.yaml", spread(5))
    result = cli("allowlist", "add", "91.198.1.1", "-c", config, "--lock-timeout", "soon")
    assert result.exit_code == 1
    assert "--lock-timeout 'soon': not a duration" in result.stderr
    assert "91.198.1.1" not in config.read_text()


# --- --apply: safe to re-run, one JSON document ------------------------------------------------------------

INVALIDATE_PATH = "/compute/v1/projects/my-gcp-project/global/urlMaps/encord-da-url-map/invalidateCache"


@pytest.fixture
def deployment(tmp_path: Path, builtin_deployment):
    builtin_deployment.expect_request(INVALIDATE_PATH, method="POST").respond_with_json(
        {"kind": "compute#operation", "name": "operation-1", "status": "DONE"}
    )
    return write_config(tmp_path / "iac.yaml", spread(3)), tmp_path / "build"


@pytest.mark.terraform
def test_apply_without_terminal_or_auto_approve_writes_nothing_and_a_rerun_applies(cli, deployment) -> None:
    config, out = deployment
    assert cli("apply", "-c", config, "-o", out, "--auto-approve").exit_code == 0
    before = config.read_bytes()

    refused = cli("allowlist", "add", "91.198.1.1", "-c", config, "-o", out, "--apply")
    assert refused.exit_code == 1
    assert "--auto-approve" in refused.stderr and "nothing written" in refused.stderr
    assert config.read_bytes() == before

    # The file was edited by hand (or by an earlier run whose apply failed): --apply reconciles.
    write_config(config, [*spread(3), "91.198.1.1/32"])
    rerun = cli("allowlist", "add", "91.198.1.1", "-c", config, "-o", out, "--apply", "--auto-approve")
    assert rerun.exit_code == 0, rerun.output
    assert "already in the allowlist" in rerun.stdout
    assert "apply complete" in rerun.stderr
    assert cli("plan", "-c", config, "-o", out).exit_code == 0, "the infrastructure now matches the file"


@pytest.mark.terraform
def test_json_apply_prints_one_document(cli, deployment, compute_stub) -> None:
    config, out = deployment
    assert cli("apply", "-c", config, "-o", out, "--auto-approve").exit_code == 0
    result = cli("allowlist", "add", "91.198.1.1", "-c", config, "-o", out, "--apply", "--auto-approve", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)  # exactly one document: anything else on stdout fails here
    assert set(document) == {"ok", "edit", "plan", "applied", "invalidation"}
    assert document["edit"]["added"] == ["91.198.1.1/32"] and document["edit"]["written"] is True
    assert document["plan"]["allowlist"]["added"] == ["91.198.1.1/32"]
    assert document["applied"] is True
    assert document["invalidation"]["status"] == "done"
    assert "Planned changes" not in result.stdout and "$ terraform plan" in result.stderr


@pytest.mark.terraform
def test_no_invalidate_on_the_edit_commands(cli, deployment, compute_stub) -> None:
    config, out = deployment
    assert cli("apply", "-c", config, "-o", out, "--auto-approve").exit_code == 0
    result = cli(
        "allowlist",
        "remove",
        spread(3)[0],
        "-c",
        config,
        "-o",
        out,
        "--apply",
        "--auto-approve",
        "--no-invalidate",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["invalidation"] == {"status": "skipped"}
    assert [r for r, _ in compute_stub.log if r.path == INVALIDATE_PATH] == []


# How iac wrote the allowlist into main.tf before stable rules: one flat list, chunked by the module.
OLD_ALLOWLIST = """  allowlist = {
    ranges = [
      "39.42.20.11/32",
      "130.192.120.23/32",
    ]
  }
"""


def test_a_rendering_from_before_stable_rules_is_not_taken_as_current(tmp_path: Path) -> None:
    """An older iac rendered `allowlist = { ranges = [...] }`: no rule of it can be read back, so the next
    plan must read the deployed rules from the state rather than pack afresh over them."""
    from iac.allowlist.baseline import of_rendering

    # The single-root main.tf an iac of stable rules rendered, with its rules as an iac before them wrote them.
    golden = (Path(__file__).parent / "fixtures" / "single-root" / "documented" / "main.tf").read_text()
    start, end = golden.index("  allowlist = {"), golden.rindex("  }\n}")
    old_main = golden[:start] + OLD_ALLOWLIST + golden[end + len("  }\n") :]
    assert "    ranges = [" in old_main
    out = tmp_path / "build"
    out.mkdir()
    (out / "main.tf").write_text(old_main)
    (out / ".iac-files").write_text("# Files written by `iac render`; the next render replaces them.\nmain.tf\n")
    config = load_config(Path(__file__).parent.parent / "examples" / "documented" / "iac.yaml").config
    assert of_rendering(out, config).current is None
    # The same single-root main.tf with its stable rules is read back (it is upgraded from).
    (out / "main.tf").write_text(golden)
    assert of_rendering(out, config).current is not None
