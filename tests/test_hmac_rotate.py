"""`iac hmac rotate`: the config's `hmac_key.generation` raised in place, and the key replaced make-before-break."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_apply import CONFIG

from conftest import EXAMPLES, ROOT, refused
from iac.cli.common import Services

COMMENTED = """\
# Acme's Direct Access deployment.
project: my-gcp-project   # production
name: encord-da
domain: encord-directaccess.acme.com
bucket: {name: encord-data, location: EU}

# Rotated when Jo left (2026-11); next rotation due 2027-05.
hmac_key:
  generation: 3     # iac hmac rotate raises this
allowlist:
  - 39.42.20.11/32  # office
cdn:
  default_ttl: 60
"""

# A config without hmac_key:, ending with comments (a commented-out key, as the starter config has).
WITHOUT_KEY = """\
project: my-gcp-project
domain: encord-directaccess.acme.com
bucket:
  name: encord-data
  location: EU
allowlist:
  - 39.42.20.11/32
# gcp:
#   api_endpoint: https://compute-acme.p.googleapis.com
"""


def rotate(cli, config: Path, *args: str):
    return cli("hmac", "rotate", "-c", config, *args)


# --- the edit: one number changes, every other byte stays ---------------------------------------------------------


@pytest.mark.parametrize(("encoding", "newline"), [("plain", "\n"), ("BOM and CRLF", "\r\n")], ids=["lf", "bom-crlf"])
def test_only_the_generation_changes(cli, tmp_path: Path, encoding: str, newline: str) -> None:
    bom = "\ufeff" if encoding != "plain" else ""
    config = tmp_path / "iac.yaml"
    original = (bom + COMMENTED.replace("\n", newline)).encode()
    config.write_bytes(original)
    result = rotate(cli, config)
    assert result.exit_code == 0, result.output
    assert config.read_bytes() == original.replace(b"generation: 3 ", b"generation: 4 ")
    assert f"hmac_key.generation in {config}: 3 -> 4" in result.stdout
    assert f"wrote {config}" in result.stdout
    assert "iac apply -c" in result.stdout  # what finishes the rotation
    again = rotate(cli, config)
    assert again.exit_code == 0 and "4 -> 5" in again.stdout
    assert cli("validate", "-c", config).exit_code == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (WITHOUT_KEY, WITHOUT_KEY + "hmac_key:\n  generation: 2\n"),
        (WITHOUT_KEY.rstrip("\n"), WITHOUT_KEY + "hmac_key:\n  generation: 2\n"),  # no newline at the end
        (WITHOUT_KEY.replace("\n", "\r\n"), (WITHOUT_KEY + "hmac_key:\n  generation: 2\n").replace("\n", "\r\n")),
        (WITHOUT_KEY + "...\n", WITHOUT_KEY + "hmac_key:\n  generation: 2\n...\n"),  # a document end marker
        ("---\n" + WITHOUT_KEY, "---\n" + WITHOUT_KEY + "hmac_key:\n  generation: 2\n"),
        (
            COMMENTED.replace("hmac_key:\n  generation: 3 ", "hmac_key: {generation: 3}"),
            COMMENTED.replace("hmac_key:\n  generation: 3 ", "hmac_key: {generation: 4}"),
        ),
        (
            COMMENTED.replace("hmac_key:\n  generation: 3     # iac", "hmac_key: {}  # iac"),
            COMMENTED.replace("hmac_key:\n  generation: 3     # iac", "hmac_key: {generation: 2}  # iac"),
        ),
    ],
    ids=["appended", "no-final-newline", "crlf", "document-end", "document-start", "flow", "empty-flow"],
)
def test_a_missing_generation_is_added_cleanly(cli, tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "iac.yaml"
    config.write_bytes(text.encode())
    result = rotate(cli, config, "--json")
    assert result.exit_code == 0, result.output
    assert config.read_bytes() == expected.encode()
    document = json.loads(result.stdout)
    assert document["added_key"] is (text.count("hmac_key") == 0)
    assert cli("validate", "-c", config).exit_code == 0


def test_json_is_one_document(cli, tmp_path: Path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(COMMENTED)
    result = rotate(cli, config, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "ok": True,
        "file": str(config),
        "generation": {"before": 3, "after": 4},
        "added_key": False,
        "changed": True,
        "written": True,
        "warnings": [],
    }
    assert "3 -> 4" in result.stderr  # the human lines go to stderr with --json


BAD_VALUES = {
    "zero": ("0", "hmac_key.generation: 0 must be a whole number from 1"),
    "negative": ("-2", "hmac_key.generation: -2 must be a whole number from 1"),
    "string": ('"x"', 'hmac_key.generation: "x" is text, not a whole number'),
    "quoted number": ('"3"', 'hmac_key.generation: "3" is text, not a whole number: write the number without quotes'),
    "boolean": ("true", "hmac_key.generation: true is not a whole number: write the number"),
    "fraction": ("1.5", "hmac_key.generation: 1.5 is not a whole number: write the number"),
    "hostile": ('"3\\u202e; rm -rf ~"', "hmac_key.generation: '3\\u202e; rm -rf ~' contains an invisible"),
    "null": ("", "hmac_key.generation: an empty value is not a whole number"),
    "unknown key": ("3\n  rotate_every: 90d", "hmac_key.rotate_every: unknown key; known keys here: generation"),
}


@pytest.mark.parametrize(("value", "message"), BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_a_bad_generation_is_refused_with_the_file_untouched(cli, tmp_path: Path, value: str, message: str) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(COMMENTED.replace("generation: 3     # iac hmac rotate raises this", f"generation: {value}"))
    before = config.read_bytes()
    for args in ([], ["--json"]):
        result = rotate(cli, config, *args)
        stderr = refused(result)
        line = 10 if "rotate_every" in value else 9
        assert f"{config}:{line}: {message}" in stderr
        assert config.read_bytes() == before
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["exit_code"] == 1 and message in document["error"]


LAYOUTS = {
    "alias": (
        "cdn:\n  default_ttl: &ttl 60\nhmac_key:\n  generation: *ttl\n",
        "is an alias of a value written elsewhere",
    ),
    "anchor": ("hmac_key:\n  generation: &g 3\n", "hmac_key.generation is written as '&g 3', not a plain number"),
}
# Refused by the config's reader itself (YAML that means something else), before the edit looks: the message
# gives the form to write instead.
MISREAD = {
    "tag": ("hmac_key:\n  generation: !!int 3\n", "hmac_key.generation: !!int 3 has a", "write 3"),
    "underscore": ("hmac_key:\n  generation: 1_0\n", "hmac_key.generation: 1_0 was read by YAML as", "write 10"),
}


@pytest.mark.parametrize(("written", "message"), LAYOUTS.values(), ids=LAYOUTS.keys())
def test_a_layout_iac_cannot_edit_safely_is_refused(cli, tmp_path: Path, written: str, message: str) -> None:
    """An aliased, anchored or tagged generation: rewriting its text could change another value too."""
    config = tmp_path / "iac.yaml"
    config.write_text(WITHOUT_KEY + written)
    before = config.read_bytes()
    stderr = refused(rotate(cli, config))
    assert message in stderr and "by hand" in stderr
    assert config.read_bytes() == before


@pytest.mark.parametrize(("written", "message", "fix"), MISREAD.values(), ids=MISREAD.keys())
def test_a_generation_yaml_reads_otherwise_is_refused(
    cli, tmp_path: Path, written: str, message: str, fix: str
) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(WITHOUT_KEY + written)
    before = config.read_bytes()
    stderr = refused(rotate(cli, config))
    assert message in stderr and fix in stderr
    assert config.read_bytes() == before


def test_a_flow_mapping_config_without_the_key_is_refused(cli, tmp_path: Path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(
        "{project: my-gcp-project, domain: encord-directaccess.acme.com, "
        "bucket: {name: encord-data, location: EU}, allowlist: [39.42.20.11/32]}\n"
    )
    before = config.read_bytes()
    stderr = refused(rotate(cli, config))
    assert "one flow mapping" in stderr and "hmac_key: {generation: 2}" in stderr
    assert config.read_bytes() == before


def test_an_invalid_config_elsewhere_blocks_the_rotation(cli, tmp_path: Path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(COMMENTED.replace("39.42.20.11/32", "10.0.0.0/8"))
    before = config.read_bytes()
    stderr = refused(rotate(cli, config))
    assert f"{config}:11: allowlist[0]" in stderr
    assert config.read_bytes() == before


def test_a_read_only_or_missing_config_is_refused(cli, tmp_path: Path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(COMMENTED)
    config.chmod(0o444)
    try:
        stderr = refused(rotate(cli, config))
    finally:
        config.chmod(0o644)
    assert "is read-only (mode 0444)" in stderr and "--dry-run" not in stderr
    assert config.read_text() == COMMENTED
    assert "no such config file" in refused(rotate(cli, tmp_path / "nothing.yaml"))


def test_writes_through_a_symlink_and_keeps_the_mode(cli, tmp_path: Path) -> None:
    real = tmp_path / "configs" / "iac.yaml"
    real.parent.mkdir()
    real.write_text(COMMENTED)
    real.chmod(0o640)
    link = tmp_path / "iac.yaml"
    link.symlink_to(real)
    assert rotate(cli, link).exit_code == 0
    assert link.is_symlink() and "generation: 4 " in real.read_text()
    assert real.stat().st_mode & 0o777 == 0o640


def test_concurrent_rotations_never_lose_a_generation(tmp_path: Path) -> None:
    """Each rotation holds the config's lock from reading to writing: N at once raise the generation by N, and each
    reports a generation of its own."""
    config = tmp_path / "iac.yaml"
    config.write_text(COMMENTED)
    env = dict(os.environ, IAC_LOCK_TIMEOUT="120s")
    command = [sys.executable, "-m", "iac", "hmac", "rotate", "-c", str(config), "--json"]
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(4)
    ]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in processes]  # type: ignore[union-attr]
    assert [code for code, _, _ in results] == [0, 0, 0, 0], results
    afters = sorted(json.loads(out)["generation"]["after"] for _, out, _ in results)
    assert afters == [4, 5, 6, 7]
    assert config.read_text() == COMMENTED.replace("generation: 3 ", "generation: 7 ")


def test_apply_without_a_way_to_confirm_writes_nothing(cli, tmp_path: Path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(COMMENTED)
    stderr = refused(rotate(cli, config, "--apply"))  # no terminal under the test runner, no --auto-approve
    assert "--apply needs --auto-approve" in stderr
    assert config.read_text() == COMMENTED


def test_a_failed_apply_keeps_the_new_generation_and_says_how_to_finish(cli, tmp_path: Path) -> None:
    """The edit is written before the apply runs: when the apply fails, the message (and the JSON) says so."""
    failing = tmp_path / "terraform"
    failing.write_text("#!/bin/sh\necho 'Error: no credentials' >&2\nexit 1\n")
    failing.chmod(0o755)
    config = tmp_path / "iac.yaml"
    config.write_text(COMMENTED)
    args = ("--apply", "--auto-approve", "--terraform", str(failing), "-o", str(tmp_path / "b"), "--json")
    result = rotate(cli, config, *args)
    stderr = refused(result)
    assert "was changed (the HMAC key generation is written) but NOT applied" in stderr
    assert f"`iac apply -c {config}`" in stderr
    assert config.read_text() == COMMENTED.replace("generation: 3 ", "generation: 4 ")
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["applied"] is False
    assert document["edit"]["generation"] == {"before": 3, "after": 4}


def test_help_documents_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "iac", "hmac", "rotate", "--help"], capture_output=True, text=True, check=True
    )
    for text in ("--apply", "--auto-approve", "--json", "-o, --output", "--lock-timeout", "Exit status", "Example:"):
        assert text in done.stdout


def imported_after(*commands: list[str]) -> list[str]:
    """Which of the rotation's modules (and YAML) a fresh process has imported after running `commands`."""
    code = (
        "import sys\n"
        "from iac.cli import app\n"
        f"for args in {list(commands)!r}:\n"
        "    try:\n        app(args)\n    except SystemExit:\n        pass\n"
        "print([m for m in ('iac.edits.hmac_key', 'iac.cli.hmac', 'yaml') if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return list(json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"')))


def test_start_up_does_not_import_the_rotation() -> None:
    """`iac --help` lists `hmac` (building its group, as every group's) without its core or any YAML; `iac render`
    never builds the group."""
    assert imported_after(["--help"]) == ["iac.cli.hmac"]
    render = ["render", "-c", str(EXAMPLES / "documented" / "iac.yaml"), "--check"]
    assert imported_after(render) == ["yaml"]


# --- the module: the key is replaced make-before-break -------------------------------------------------------------


def module_blocks(directory: Path) -> dict[str, dict]:
    """Every resource of the Terraform files in `directory`, by address, as python-hcl2 reads it."""
    from test_render import parse_dir

    return {
        f"{kind}.{name}": body
        for block in parse_dir(directory).get("resource", [])
        for kind, named in block.items()
        for name, body in named.items()
    }


def without_comments(block: dict) -> dict:
    return {key: value for key, value in block.items() if not key.startswith("__")}


def test_the_rendering_replaces_the_key_when_the_generation_changes(cli, tmp_path: Path) -> None:
    from test_render import parse_dir

    config = tmp_path / "iac.yaml"
    config.write_text((EXAMPLES / "documented" / "iac.yaml").read_text() + "hmac_key:\n  generation: 5\n")
    assert cli("render", "-c", config, "-o", tmp_path / "b").exit_code == 0
    # The key is the serving root's: the allowlist root knows nothing of it.
    [inputs] = [m["direct_access"] for m in parse_dir(tmp_path / "b" / "serving")["module"]]
    assert inputs["hmac_key"] == {"generation": 5}
    assert "hmac" not in "".join(p.read_text() for p in (tmp_path / "b" / "allowlist").rglob("*.tf"))
    module = tmp_path / "b" / "serving" / "modules" / "gcp-direct-access"
    resources = module_blocks(module)
    assert resources["terraform_data.hmac_key_generation"]["input"] == "${var.hmac_key.generation}"
    [lifecycle] = resources["google_storage_hmac_key.reader"]["lifecycle"]
    assert without_comments(lifecycle) == {
        "create_before_destroy": True,
        "replace_triggered_by": ["${terraform_data.hmac_key_generation}"],
    }
    # The backend service signs with whichever key is current: updated in place to the new one.
    [security] = resources["google_compute_backend_service.default"]["security_settings"]
    [aws] = security["aws_v4_authentication"]
    assert aws["access_key_id"] == "${google_storage_hmac_key.reader.access_id}"
    assert aws["access_key"] == "${google_storage_hmac_key.reader.secret}"
    # The variable is typed and validated; the secret is no output.
    [variables] = [v for v in parse_dir(module)["variable"] if "hmac_key" in v]
    assert "generation = optional(number, 1)" in str(variables["hmac_key"]["type"]).replace("'", "")
    assert "var.hmac_key.generation >= 1" in str(variables["hmac_key"]["validation"])
    outputs = json.dumps(parse_dir(module)["output"])
    assert ".secret" not in outputs
    assert "generation = 1" in (cli_render_default(cli, tmp_path) / "serving" / "main.tf").read_text()


def cli_render_default(cli, tmp_path: Path) -> Path:
    out = tmp_path / "default"
    assert cli("render", "-c", EXAMPLES / "documented" / "iac.yaml", "-o", out).exit_code == 0
    return out


def test_the_stand_ins_have_the_modules_lifecycle_shape(tmp_path: Path) -> None:
    """The real-Terraform tests below run on built-in stand-ins: their key has the real key's lifecycle."""
    from fake_deployment import hmac_key_standins
    from iac.config.load import load_config

    (tmp_path / "main.tf").write_text(hmac_key_standins(load_config(EXAMPLES / "documented" / "iac.yaml").config))
    stand_in = module_blocks(tmp_path)
    real = module_blocks(ROOT / "modules" / "gcp-direct-access")
    assert [without_comments(b) for b in stand_in["terraform_data.hmac_key"]["lifecycle"]] == [
        without_comments(b) for b in real["google_storage_hmac_key.reader"]["lifecycle"]
    ]
    assert set(stand_in["terraform_data.hmac_key_generation"]) == set(real["terraform_data.hmac_key_generation"])


# --- a real Terraform core: new key created, backend service switched, old key destroyed ---------------------------


@pytest.fixture
def key_deployment(cli, tmp_path: Path, builtin_deployment):
    """A config deployed on the built-in stand-ins of the module, HMAC key included (tests/fake_deployment.py)."""
    from fake_deployment import render_builtin_with_hmac_key

    cli.services = Services(renderer=render_builtin_with_hmac_key)
    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "build"
    applied = cli("apply", "-c", config, "-o", out, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    return config, out


def state_values(out: Path) -> dict[str, object]:
    """Each resource's `output` in the serving root's local state, by address (the stand-ins' ids)."""
    state = json.loads((out / "serving" / "terraform.tfstate").read_text())
    return {
        f"{r['type']}.{r['name']}": r["instances"][0]["attributes"]
        for r in state["resources"]
        if r["mode"] == "managed"
    }


def positions(text: str, *lines: str) -> list[int]:
    found = [text.find(line) for line in lines]
    assert -1 not in found, [line for line, at in zip(lines, found, strict=True) if at < 0]
    return found


@pytest.mark.terraform
def test_rotate_apply_creates_the_new_key_switches_then_destroys_the_old(cli, key_deployment) -> None:
    config, out = key_deployment
    old_key = state_values(out)["terraform_data.hmac_key"]["id"]
    allowlist_state = (out / "allowlist" / "terraform.tfstate").read_bytes()

    result = cli("hmac", "rotate", "-c", config, "-o", out, "--apply", "--auto-approve", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["ok"] is True and document["applied"] is True
    assert document["edit"]["generation"] == {"before": 1, "after": 2}
    assert document["edit"]["written"] is True
    # serving/ only: planned and applied there, the allowlist root's state untouched.
    assert list(document["plan"]["roots"]) == ["serving"]
    actions = {(change["root"], change["address"]): change["action"] for change in document["plan"]["resources"]}
    assert actions == {
        ("serving", "terraform_data.hmac_key_generation"): "update",
        ("serving", "terraform_data.hmac_key"): "replace",
        ("serving", "terraform_data.backend_service"): "update",
    }
    assert "apply complete (serving/)" in result.stderr
    assert (out / "allowlist" / "terraform.tfstate").read_bytes() == allowlist_state
    assert document["invalidation"] == {"status": "not-needed"}  # the allowlist did not change

    # Terraform's own account of the apply, in the order it happened: make, switch, then break.
    created, switched, destroyed = positions(
        result.stderr,
        "terraform_data.hmac_key: Creation complete",
        "terraform_data.backend_service: Modifications complete",
        "terraform_data.hmac_key (deposed object",
    )
    assert created < switched < destroyed
    assert result.stderr.index("terraform_data.hmac_key: Creating...") > result.stderr.index("$ terraform apply")
    values = state_values(out)
    new_key = values["terraform_data.hmac_key"]["id"]
    assert new_key != old_key
    assert values["terraform_data.backend_service"]["output"]["value"] == new_key
    assert "hmac_key:\n  generation: 2\n" in config.read_text()

    again = cli("plan", "-c", config, "-o", out)
    assert again.exit_code == 0 and "No changes" in again.stdout


@pytest.mark.terraform
def test_upgrading_an_existing_deployment_does_not_replace_the_key(cli, tmp_path: Path, builtin_deployment) -> None:
    """A deployment made before hmac_key.generation (no terraform_data, no lifecycle) keeps its key: the first
    apply with the generation only records it."""
    from fake_deployment import render_builtin_with_hmac_key

    config = tmp_path / "iac.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "build"
    cli.services = Services(renderer=_without_generation)
    assert cli("apply", "-c", config, "-o", out, "--auto-approve").exit_code == 0
    key = state_values(out)["terraform_data.hmac_key"]["id"]

    cli.services = Services(renderer=render_builtin_with_hmac_key)
    planned = cli("plan", "-c", config, "-o", out, "--json")
    assert planned.exit_code == 2, planned.output
    resources = json.loads(planned.stdout)["resources"]
    assert [(r["root"], r["address"], r["action"]) for r in resources] == [
        ("serving", "terraform_data.hmac_key_generation", "create")
    ]
    assert cli("apply", "-c", config, "-o", out, "--auto-approve").exit_code == 0
    assert state_values(out)["terraform_data.hmac_key"]["id"] == key


def _without_generation(loaded, current=None, *, repack=False, provisional=False, imports=()):
    """The stand-ins as a deployment made before hmac_key.generation has them: no generation, no lifecycle."""
    import dataclasses

    from fake_deployment import render_builtin_with_hmac_key

    rendered = render_builtin_with_hmac_key(loaded, current, repack=repack, provisional=provisional, imports=imports)
    main = rendered.files["serving/main.tf"].decode()
    start = main.index('resource "terraform_data" "hmac_key_generation"')
    main = main[:start] + main[main.index("}\n", start) + 2 :]
    # The key's lifecycle (the policies' own, ignoring the allow rules, stays).
    start = main.index("  lifecycle {", main.index('resource "terraform_data" "hmac_key"'))
    main = main[:start] + main[main.index("  }\n", start) + 4 :]
    assert "hmac_key_generation" not in main and "create_before_destroy" not in main
    return dataclasses.replace(rendered, files={**rendered.files, "serving/main.tf": main.encode()})


@pytest.mark.terraform
def test_a_replaced_service_account_is_created_before_the_old_is_destroyed(
    tmp_path: Path, terraform: str, terraform_env: dict[str, str]
) -> None:
    """Terraform makes the dependencies of a create_before_destroy resource create-before-destroy too: a new `name`
    (a new account_id) creates the new account and key before the old ones go, so they can never collide."""
    from fake_deployment import render_builtin_with_hmac_key
    from iac.config.load import load_config

    def deploy(text: str) -> str:
        config = tmp_path / "iac.yaml"
        config.write_text(text)
        rendered = render_builtin_with_hmac_key(load_config(config))
        (tmp_path / "main.tf").write_bytes(rendered.files["serving/main.tf"])
        run = [terraform, f"-chdir={tmp_path}"]
        subprocess.run([*run, "init", "-input=false", "-no-color"], env=terraform_env, check=True, capture_output=True)
        done = subprocess.run(
            [*run, "apply", "-auto-approve", "-input=false", "-no-color"],
            env=terraform_env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    deploy(CONFIG)
    output = deploy(CONFIG.replace("name: encord-da", "name: encord-da2"))
    steps = positions(
        output,
        "terraform_data.service_account: Creation complete",
        "terraform_data.hmac_key: Creation complete",
        "terraform_data.backend_service: Modifications complete",
        "terraform_data.hmac_key (deposed object",
        "terraform_data.service_account (deposed object",
    )
    assert steps == sorted(steps), output
