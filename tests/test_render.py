"""`iac render`: what lands on disk, byte for byte, and what it means to Terraform."""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import hcl2
import pytest

from conftest import EXAMPLE_NAMES, EXAMPLES
from iac.config.cors import DEFAULT_CORS_ORIGINS
from iac.terraform import hcl

GOLDEN = Path(__file__).parent / "golden"
# The two root modules of a rendering, each with its own files and a copy of the module it calls.
ROOTS = {"serving": "gcp-direct-access", "allowlist": "gcp-direct-access-allowlist"}
ROOT_FILES = [".gitignore", "backend.tf", "main.tf", "outputs.tf", "versions.tf"]
MODULES = Path(__file__).parent.parent / "modules"


def render(cli, config: Path, out: Path) -> str:
    result = cli("render", "-c", config, "-o", out)
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def tree(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_documented_example_matches_golden_files(cli, tmp_path: Path) -> None:
    out = tmp_path / "build"
    render(cli, EXAMPLES / "documented" / "iac.yaml", out)
    names = [".gitignore", *(f"{root}/{name}" for root in ROOTS for name in ROOT_FILES)]
    # Every file of the rendering but the module copies (pinned below) and the ledger is pinned here.
    rendered = sorted(n for n in tree(out) if "/modules/" not in n and n != ".iac-files")
    assert rendered == sorted(names)
    for name in names:
        golden = GOLDEN / "documented" / name
        if os.environ.get("IAC_UPDATE_GOLDEN"):
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_bytes((out / name).read_bytes())
        assert (out / name).read_text() == golden.read_text(), f"{name} differs from {golden}"


def test_render_is_byte_identical_and_self_contained(cli, tmp_path: Path) -> None:
    config = EXAMPLES / "large-allowlist" / "iac.yaml"
    render(cli, config, tmp_path / "one")
    render(cli, config, tmp_path / "two")
    first = tree(tmp_path / "one")
    assert first == tree(tmp_path / "two")
    # Each root's module is copied into it, so each root works without iac and without the other root:
    # nothing points outside its directory.
    for root, module in ROOTS.items():
        copied = {n.removeprefix(f"{root}/modules/{module}/") for n in first if n.startswith(f"{root}/modules/")}
        assert copied == {path.name for path in (MODULES / module).iterdir()}, root
        for path in (MODULES / module).iterdir():
            assert first[f"{root}/modules/{module}/{path.name}"] == path.read_bytes()
        sources = re.findall(r'^\s*source\s*=\s*"([^"]*)"', first[f"{root}/main.tf"].decode(), re.MULTILINE)
        assert sources == [f"./modules/{module}"], root
        text = "".join(data.decode() for name, data in first.items() if name.startswith(f"{root}/"))
        assert "../" not in re.sub(r"#[^\n]*", "", text), root


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_each_root_rerenders_byte_identical_and_render_check_sees_each_root(example: str, cli, tmp_path: Path) -> None:
    out = tmp_path / "build"
    config = EXAMPLES / example / "iac.yaml"
    render(cli, config, out)
    first = tree(out)
    assert {name.split("/")[0] for name in first if "/" in name} == set(ROOTS)
    render(cli, config, out)
    assert tree(out) == first
    check = cli("render", "-c", config, "-o", out, "--check")
    assert check.exit_code == 0, check.output
    # A changed or missing file in either root, its module copy included, fails the check, named by its root.
    for root, module in ROOTS.items():
        for name in (f"{root}/main.tf", f"{root}/modules/{module}/main.tf", f"{root}/backend.tf"):
            if name not in first:
                continue
            (out / name).write_bytes(first[name] + b"\n")
            changed = cli("render", "-c", config, "-o", out, "--check")
            assert changed.exit_code == 1 and f"error: {name}: differs" in changed.stderr, changed.output
            (out / name).unlink()
            missing = cli("render", "-c", config, "-o", out, "--check")
            assert missing.exit_code == 1 and f"error: {name}: missing" in missing.stderr, missing.output
            (out / name).write_bytes(first[name])
    assert tree(out) == first


def test_rerender_keeps_terraform_files_and_removes_stale_ones(cli, example_config, tmp_path: Path) -> None:
    out = tmp_path / "build"
    config = example_config("documented")
    render(cli, config, out)
    # What Terraform and the user keep beside the rendered files, in each root, must survive every render.
    kept = {"notes.md": "mine"}
    for root in ROOTS:
        assert (out / root / "backend.tf").exists()
        (out / root / ".terraform").mkdir()
        kept |= {
            f"{root}/.terraform/modules.json": "{}",
            f"{root}/terraform.tfstate": f'{{"version": 4, "root": "{root}"}}',
            f"{root}/.terraform.lock.hcl": f"# {root}",
            f"{root}/notes.md": f"mine, in {root}",
        }
    for name, text in kept.items():
        (out / name).write_text(text)

    config.write_text(config.read_text().split("terraform:")[0])  # drop the backend
    stdout = render(cli, config, out)
    for root in ROOTS:
        assert not (out / root / "backend.tf").exists()
        assert f"removed stale file {root}/backend.tf" in stdout
    assert {name: (out / name).read_text() for name in kept} == kept


def test_refuses_to_overwrite_files_it_did_not_write(cli, tmp_path: Path) -> None:
    out = tmp_path / "repo"
    (out / "serving").mkdir(parents=True)
    (out / "serving" / "main.tf").write_text("# hand-written\n")
    result = cli("render", "-c", EXAMPLES / "documented" / "iac.yaml", "-o", out)
    assert result.exit_code == 1
    assert "is not empty and holds no .iac-files" in result.stderr
    (out / ".iac-files").touch()  # adopted on purpose: its files are still not iac's
    result = cli("render", "-c", EXAMPLES / "documented" / "iac.yaml", "-o", out)
    assert result.exit_code == 1
    assert "would overwrite files iac did not write (serving/main.tf)" in result.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [".iac-files", "serving", "serving/main.tf"]
    assert (out / "serving" / "main.tf").read_text() == "# hand-written\n"


def test_a_tampered_manifest_cannot_delete_outside_the_output(cli, tmp_path: Path) -> None:
    out = tmp_path / "build"
    render(cli, EXAMPLES / "documented" / "iac.yaml", out)
    victim = tmp_path / "precious.txt"
    victim.write_text("keep")
    ledger = json.loads((out / ".iac-files").read_text())
    ledger["files"] += ["../precious.txt", str(victim)]
    (out / ".iac-files").write_text(json.dumps(ledger))
    render(cli, EXAMPLES / "documented" / "iac.yaml", out)
    assert victim.read_text() == "keep"
    # The same in the plain list of earlier versions, which wrote the single-root layout: the upgrade to the two
    # roots removes the files of that layout, and only those.
    import shutil

    old = tmp_path / "old"
    shutil.copytree(Path(__file__).parent / "fixtures" / "single-root" / "documented", old)
    names = json.loads((old / ".iac-files").read_text())["files"]
    (old / ".iac-files").write_text("# Files written by `iac render`\n" + "".join(f"{n}\n" for n in names))
    with (old / ".iac-files").open("a") as manifest:
        manifest.write(f"../precious.txt\n{victim}\n")
    assert "upgraded from the single-root layout" in render(cli, EXAMPLES / "documented" / "iac.yaml", old)
    assert victim.read_text() == "keep"
    assert not (old / "main.tf").exists() and (old / "allowlist" / "imports.tf").is_file()


def test_summary_counts_resources_ranges_and_rules(cli, tmp_path: Path) -> None:
    stdout = render(cli, EXAMPLES / "large-allowlist" / "iac.yaml", tmp_path / "b")
    assert "1198 ranges (1200 entries, 2 merged) in 120 rules of each Cloud Armor policy" in stdout
    assert "259 resources in project acme-labelling" in stdout  # 19 in serving/, 2 x 120 rules in allowlist/
    # serving/: bucket, 2 policies, NEG, endpoint, backend service, address, certificate, SSL policy, 2 URL maps,
    # 2 proxies, 2 forwarding rules, service account, IAM member, HMAC key, DNS record; allowlist/: the one
    # allow rule in each of the 2 policies.
    stdout = render(cli, EXAMPLES / "documented" / "iac.yaml", tmp_path / "d")
    assert "21 resources in project my-gcp-project" in stdout
    stdout = render(cli, EXAMPLES / "existing-bucket" / "iac.yaml", tmp_path / "c")
    assert "19 resources in project acme-data-prod" in stdout  # no bucket, no DNS record; 2 x 1 rule
    assert "bucket acme-annotation-images (existing, not managed)" in stdout
    assert "DNS: not managed; create the A record for annotations.data.acme.com" in stdout


@pytest.mark.terraform
@pytest.mark.parametrize("upgraded", [False, True], ids=["fresh", "upgraded from the single-root layout"])
def test_each_root_is_terraform_fmt_clean_and_valid(
    upgraded: bool, cli, tmp_path: Path, terraform, terraform_env
) -> None:
    """Each root on its own, as Terraform reads it offline: `fmt -check` clean, and after `get` (its module copy)
    `validate` reports only the provider it cannot download; the upgrade's allowlist/imports.tf included."""
    import shutil

    from test_terraform import run

    config, out = tmp_path / "iac.yaml", tmp_path / "build"
    shutil.copyfile(EXAMPLES / "large-allowlist" / "iac.yaml", config)
    if upgraded:
        shutil.copytree(Path(__file__).parent / "fixtures" / "single-root" / "large-allowlist", out)
    render(cli, config, out)
    assert (out / "allowlist" / "imports.tf").is_file() == upgraded

    for root in ROOTS:
        formatted = run(terraform, terraform_env, out / root, "fmt", "-check", "-recursive", "-diff")
        assert formatted.returncode == 0, (root, formatted.stdout + formatted.stderr)
        assert run(terraform, terraform_env, out / root, "get").returncode == 0, root
        validated = run(terraform, terraform_env, out / root, "validate", "-json", "-no-color")
        diagnostics = json.loads(validated.stdout)["diagnostics"]
        assert {d["summary"] for d in diagnostics} == {"Missing required provider"}, (root, diagnostics)


# --- the escaping path --------------------------------------------------------------------------------

HOSTILE = [
    'a"b',
    '${file("/etc/passwd")}',
    "%{ for x in y }boom%{ endfor }",
    "line\nbreak",
    "tab\tand\rreturn",
    "back\\slash\\",
    '"\n}\nresource "null_resource" "evil" {\n',
    "$${already}",
    "\x01\x7f\u2028",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hcl_strings_round_trip_without_changing_structure(text: str, tmp_path: Path) -> None:
    source = f"locals {{\n  value = {hcl.string(text)}\n}}\n"
    assert "\n" not in hcl.string(text)
    parsed = unquote(hcl2.loads(source))
    assert isinstance(parsed, dict) and list(parsed) == ["locals"]
    [block] = parsed["locals"]
    assert list(block) == ["value"]


def test_hostile_values_reach_terraform_as_plain_text(cli, tmp_path: Path, terraform, terraform_env) -> None:
    """Terraform itself reads back exactly the string we meant, for each hostile value."""
    import json
    import subprocess

    body = "\n".join(f'output "v{i}" {{\n  value = {hcl.string(t)}\n}}' for i, t in enumerate(HOSTILE))
    (tmp_path / "main.tf").write_text(body + "\n")
    for args in (["init", "-input=false"], ["apply", "-input=false", "-auto-approve"]):
        done = subprocess.run(
            [terraform, f"-chdir={tmp_path}", *args],
            env=terraform_env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    shown = subprocess.run(
        [terraform, f"-chdir={tmp_path}", "output", "-json"],
        env=terraform_env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=True,
    )
    values = json.loads(shown.stdout)
    assert [values[f"v{i}"]["value"] for i in range(len(HOSTILE))] == HOSTILE


def test_backend_prefix_with_hcl_syntax_is_escaped(cli, example_config, tmp_path: Path) -> None:
    config = example_config("documented")
    prefix = 'team "a"/${var.x}/%{if true}'
    text = config.read_text().replace("prefix: encord-da}", f"prefix: '{prefix}'}}")
    config.write_text(text)
    render(cli, config, tmp_path / "out")
    # Both roots' state prefixes carry the hostile text as plain text: serving's as configured, allowlist's below it.
    for root, expected in (("serving", prefix), ("allowlist", f"{prefix}/allowlist")):
        text = (tmp_path / "out" / root / "backend.tf").read_text()
        parsed = hcl2.loads(text)
        [terraform_block] = unquote(parsed)["terraform"]
        [backend] = terraform_block["backend"]
        assert list(backend) == ["gcs"]
        assert sorted(backend["gcs"]) == ["bucket", "prefix"]
        assert backend["gcs"]["prefix"] == hcl.string(expected)[1:-1]
        assert "$${var.x}" in text
        assert "%%{if true}" in text


# --- structure: what each example deploys ----------------------------------------------------------------


def parse_dir(directory: Path) -> dict[str, list[dict]]:
    merged: dict[str, list[dict]] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            for key, blocks in unquote(hcl2.load(handle)).items():
                merged.setdefault(key, []).extend(blocks)
    return merged


def resources(parsed: dict[str, list[dict]]) -> dict[str, dict]:
    found = {}
    for block in parsed.get("resource", []):
        for rtype, named in block.items():
            for name, body in named.items():
                found[f"{rtype}.{name}"] = body
    return found


def unquote(value: object) -> object:
    """python-hcl2 output without its quoting and bookkeeping keys, for plain comparisons."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    return value


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_root_passes_the_config_to_the_module(example: str, cli, tmp_path: Path) -> None:
    import yaml

    from iac.config.load import load_config

    config = yaml.safe_load((EXAMPLES / example / "iac.yaml").read_text())
    render(cli, EXAMPLES / example / "iac.yaml", tmp_path / "b")
    serving, allowlist = parse_dir(tmp_path / "b" / "serving"), parse_dir(tmp_path / "b" / "allowlist")
    [module] = [m["direct_access"] for m in serving["module"]]
    assert module["source"] == "./modules/gcp-direct-access"
    assert module["project_id"] == config["project"]
    assert module["name"] == config.get("name", "encord-da")
    assert module["domain"] == config["domain"]
    assert module["dns_zone"] == config.get("dns_zone")
    assert module["bucket"]["name"] == config["bucket"]["name"]
    assert module["bucket"]["create"] == config["bucket"].get("create", True)
    assert "allowlist" not in module  # the allow rules are the allowlist root's alone
    # The allowlist root: the rules, and what finds the policies they belong to (project and name), nothing else.
    [rules_module] = [m["allowlist"] for m in allowlist["module"]]
    assert sorted(rules_module) == ["allowlist", "name", "project_id", "source"]
    assert rules_module["source"] == "./modules/gcp-direct-access-allowlist"
    assert (rules_module["project_id"], rules_module["name"]) == (module["project_id"], module["name"])
    rules = rules_module["allowlist"]["rules"]
    # A fresh rendering packs optimally: full rules of 10 at consecutive priorities from 1000, in order.
    ranges = load_config(EXAMPLES / example / "iac.yaml").allowlist.ranges
    assert [r for rule in rules for r in rule["ranges"]] == list(ranges)
    assert [rule["priority"] for rule in rules] == list(range(1000, 1000 + len(rules)))
    assert all(len(rule["ranges"]) == 10 for rule in rules[:-1]) and 1 <= len(rules[-1]["ranges"]) <= 10
    for root in (serving, allowlist):
        assert [p["google"]["project"] for p in root["provider"]] == [config["project"]]
    outputs = {name for block in serving["output"] for name in block}
    assert {"url_map_name", "domain", "project_id", "ip_address"} <= outputs
    assert ("dns_record_to_create" in outputs) == ("dns_zone" not in config)
    # What `iac apply` needs after a change to the allowlist alone, from the allowlist root's own outputs.
    assert {name for block in allowlist["output"] for name in block} == {
        "allowlist_ranges",
        "domain",
        "edge_security_policy_name",
        "project_id",
        "security_policy_name",
        "url_map_name",
    }
    for root in ROOTS:
        assert ("backend.tf" in {p.name for p in (tmp_path / "b" / root).iterdir()}) == ("terraform" in config)
    for block in serving["output"] + allowlist["output"]:
        for body in block.values():
            assert "secret" not in str(body["value"])
            assert not body.get("sensitive")


# The allowlist module's `local.rules`: one entry for each policy of `local.POLICIES` and each rule of `var.RULES`.
PER_POLICY_AND_RULE = re.compile(
    r"\$\{merge\(\[for \w+, \w+ in local\.(\w+) : \{for \w+ in var\.([\w.]+) : .*\}\] \.\.\.\)\}"
)


def lookup(inputs: dict, dotted: str) -> object:
    value: object = inputs
    for part in dotted.split("."):
        assert isinstance(value, dict)
        value = value[part]
    return value


def module_instances(body: dict, inputs: dict, local_values: dict) -> int:
    """The instances a resource block creates for the module call's `inputs`, from python-hcl2's reading of its
    `count` or `for_each`: the forms the modules use (`var.a.b [!= null] ? N : M`, `local.MAP`, the allowlist
    module's `local.rules` over policies and rules), else a failure."""
    if "count" in body:
        match = re.fullmatch(r"\$\{var\.([\w.]+)(?: (==|!=) null)? \? (\d+) : (\d+)\}", str(body["count"]))
        assert match, f"cannot evaluate count = {body['count']}"
        value = lookup(inputs, match.group(1))
        holds = {None: value, "!=": value is not None, "==": value is None}[match.group(2)]
        assert isinstance(holds, bool)
        return int(match.group(3)) if holds else int(match.group(4))
    if "for_each" in body:
        match = re.fullmatch(r"\$\{local\.(\w+)\}", str(body["for_each"]))
        assert match, f"cannot evaluate for_each = {body['for_each']}"
        local = local_values[match.group(1)]
        if isinstance(local, str):
            nested = PER_POLICY_AND_RULE.fullmatch(local)
            assert nested, f"cannot evaluate local.{match.group(1)} = {local}"
            rules = lookup(inputs, nested.group(2))
            assert isinstance(rules, list)
            return len(local_values[nested.group(1)]) * len(rules)
        return len(local)
    return 1


@pytest.mark.parametrize("dns", ["as in the example", "the other way"])
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_summary_counts_the_resource_instances_of_the_module(
    example: str, dns: str, cli, example_config, tmp_path: Path
) -> None:
    """The summary's count (iac's own reading of the modules) is what python-hcl2 reads both modules to create,
    each for the inputs its root gives it."""
    from iac.terraform.render import module_resources

    config = example_config(example)
    if dns == "the other way":  # every combination of a created bucket and a DNS record
        text = config.read_text()
        flipped = text.replace("dns_zone: acme-com\n", "")
        config.write_text(flipped if flipped != text else text + "dns_zone: acme-com\n")
    stdout = render(cli, config, tmp_path / "b")
    expected: dict[str, dict[str, int]] = {}
    inputs: dict[str, dict] = {}
    for root, module_name in ROOTS.items():
        [inputs[root]] = [call for m in parse_dir(tmp_path / "b" / root)["module"] for call in m.values()]
        module = parse_dir(tmp_path / "b" / root / "modules" / module_name)
        local_values = {name: value for block in module["locals"] for name, value in block.items()}
        expected[root] = {
            address: module_instances(body, inputs[root], local_values) for address, body in resources(module).items()
        }
    in_project = sum(n for found in expected.values() for address, n in found.items() if address.startswith("google_"))
    assert f"  {in_project} resources in project " in stdout
    serving = inputs["serving"]
    flags = {"create_bucket": serving["bucket"]["create"], "manage_dns": serving["dns_zone"] is not None}
    assert {resource.address: resource.count(flags) for resource in module_resources()} == expected["serving"]
    # The allowlist root creates one rule resource for each rule and each of the two policies, nothing else.
    rules = len(inputs["allowlist"]["allowlist"]["rules"])
    assert expected["allowlist"] == {"google_compute_security_policy_rule.allow": 2 * rules}


def test_render_and_cors_do_not_import_each_other() -> None:
    """The Terraform and the CORS documents render apart: the templates and the CORS rule are below both."""
    package = Path(__file__).resolve().parent.parent / "iac"

    def imported(path: Path) -> set[str]:
        here = ".".join(path.relative_to(package.parent).with_suffix("").parts[:-1])
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = here.rsplit(".", node.level - 1)[0] if node.level else ""
                module = ".".join(part for part in (base, node.module or "") if part)
                names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
        return names

    def within(names: set[str], package_name: str) -> set[str]:
        return {n for n in names if n == package_name or n.startswith(package_name + ".")}

    assert within(imported(package / "terraform" / "render.py"), "iac.cors") == set()
    assert "iac.terraform.templates" in imported(package / "terraform" / "render.py")
    for path in sorted((package / "cors").glob("*.py")):
        assert within(imported(path), "iac.terraform.render") == set(), path.name


def test_module_builds_the_hardened_setup(cli, tmp_path: Path) -> None:
    render(cli, EXAMPLES / "documented" / "iac.yaml", tmp_path / "b")
    module_dir = tmp_path / "b" / "serving" / "modules" / "gcp-direct-access"
    parsed = parse_dir(module_dir)
    found = resources(parsed)
    text = "".join(p.read_text() for p in module_dir.glob("*.tf"))

    bucket = found["google_storage_bucket.bucket"]
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert "MULTI_REGIONAL" not in text.replace("legacy classes such as MULTI_REGIONAL", "")
    # The documented code hard-codes the signing region; here it follows the bucket (or the config).
    code = "".join(p.read_text() for p in module_dir.glob("*.tf") if p.name != "variables.tf")
    assert "europe-west1" not in code
    assert "var.origin_region != null ? var.origin_region : lower(local.bucket_location)" in code

    policy = found["google_compute_security_policy.default"]
    assert "${each.value}" in str(policy["type"])
    assert "CLOUD_ARMOR_EDGE" in text and '"CLOUD_ARMOR"' in text
    # A policy states its default deny rule alone, in force from its creation, and ignores the allow rules the
    # allowlist root adds: applying serving/ never removes one.
    [default] = policy["rule"]
    assert (default["action"], default["priority"]) == ("deny(403)", 2147483647)
    assert default["match"] == [{"versioned_expr": "SRC_IPS_V1", "config": [{"src_ip_ranges": ["*"]}]}]
    assert "dynamic" not in policy
    assert [lifecycle["ignore_changes"] for lifecycle in policy["lifecycle"]] == [["rule"]]
    assert "var.allowlist" not in text and 'variable "allowlist"' not in text

    # The allow rules: one resource a rule and policy. The root states every rule; the module neither chunks
    # nor renumbers (that would move ranges), and keys each rule by its policy and priority.
    rules_dir = tmp_path / "b" / "allowlist" / "modules" / "gcp-direct-access-allowlist"
    rules_text = "".join(p.read_text() for p in rules_dir.glob("*.tf"))
    assert "chunklist" not in rules_text
    assert 'for rule in var.allowlist.rules : format("%s-%d", policy, rule.priority)' in rules_text
    [(address, allow)] = resources(parse_dir(rules_dir)).items()
    assert address == "google_compute_security_policy_rule.allow"
    assert (allow["action"], allow["priority"]) == ("allow", "${each.value.priority}")
    assert allow["security_policy"] == "${each.value.policy}"
    assert allow["match"] == [{"versioned_expr": "SRC_IPS_V1", "config": [{"src_ip_ranges": "${each.value.ranges}"}]}]
    # The policies it adds rules to are named from var.name alone, as the serving module names them.
    [policies] = [block["policies"] for block in parse_dir(rules_dir)["locals"]]
    assert policies == {key: f"${{var.name}}-{key}-policy" for key in ("edge", "backend")}

    backend = found["google_compute_backend_service.default"]
    assert "edge" in str(backend["edge_security_policy"]) and "backend" in str(backend["security_policy"])
    assert backend["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    assert backend["protocol"] == "HTTPS"
    assert backend["enable_cdn"] is True
    [cdn] = backend["cdn_policy"]
    assert cdn["cache_mode"] == "FORCE_CACHE_ALL"
    assert "Cookie:" in backend["custom_request_headers"]
    assert any(h.startswith("Host:") for h in backend["custom_request_headers"])
    [security] = backend["security_settings"]
    [aws] = security["aws_v4_authentication"]
    assert aws["origin_region"] == "${local.origin_region}"

    neg = found["google_compute_global_network_endpoint_group.default"]
    assert neg["network_endpoint_type"] == "INTERNET_FQDN_PORT"
    assert "google_dns_record_set.default" in found
    assert "var.dns_zone == null ? 0 : 1" in text.replace("!= null ? 1 : 0", "== null ? 0 : 1")
    assert (found["google_storage_bucket_iam_member.reader"])["role"] == "roles/storage.legacyObjectReader"
    assert "google_storage_hmac_key.reader" in found

    # Every GCP resource name derives from var.name, so two deployments can share a project.
    for address, body in found.items():
        name = body.get("name") if isinstance(body, dict) else None
        if name is not None and address not in (
            "google_storage_bucket.bucket",
            "google_dns_record_set.default",
        ):
            assert "${var.name}" in str(name), address
    # The secret is used by the backend service only, never exported.
    outputs = "".join(str(b) for b in parsed["output"])
    assert ".secret" not in outputs
    assert text.count("google_storage_hmac_key.reader.secret") == 1


def test_a_failed_write_leaves_the_output_as_it_was(cli, example_config, tmp_path: Path) -> None:
    """A write that fails half way through a render (here: a file size limit set on the process, as a full
    disk would): the old render stays whole, no staged files remain, a new directory is not created."""
    import resource
    import signal
    import subprocess
    import sys

    out = tmp_path / "build"
    # The same deployment as the large allowlist below, with the documented example's settings.
    config = example_config("documented")
    config.write_text(
        config.read_text()
        .replace("project: my-gcp-project", "project: acme-labelling")
        .replace("name: encord-da\n", "name: encord-vendor\n")
    )
    render(cli, config, out)
    before = tree(out)
    large = EXAMPLES / "large-allowlist" / "iac.yaml"

    def limited() -> None:
        # Writing past 16 KiB fails with EFBIG (SIGXFSZ ignored): the large allowlist's allowlist/main.tf is bigger.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))

    def render_limited(directory: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "iac", "render", "-c", str(large), "-o", str(directory)],
            capture_output=True,
            text=True,
            preexec_fn=limited,
            timeout=120,
            check=False,
        )

    result = render_limited(out)
    assert result.returncode == 1, result.stderr
    assert "cannot write the rendered files: File too large" in result.stderr
    assert "Traceback" not in result.stderr
    assert tree(out) == before

    fresh = tmp_path / "fresh"
    assert render_limited(fresh).returncode == 1
    assert not fresh.exists()


def test_a_created_bucket_gets_encords_cors_unless_turned_off(cli, tmp_path: Path) -> None:
    """Without a CORS rule the web app cannot read the data: a created bucket gets Encord's by default,
    stated in main.tf like every other value, and `bucket.cors: false` turns it off."""
    config = tmp_path / "iac.yaml"
    config.write_text((EXAMPLES / "documented" / "iac.yaml").read_text())
    summary = render(cli, config, tmp_path / "on")
    assert "CORS: Encord's rule for https://app.encord.com" in summary
    [module] = [m["direct_access"] for m in parse_dir(tmp_path / "on" / "serving")["module"]]
    assert module["cors"]["origins"] == list(DEFAULT_CORS_ORIGINS)
    assert module["cors"]["methods"] == ["GET", "HEAD"]

    config.write_text(config.read_text().replace("  create: true\n", "  create: true\n  cors: false\n"))
    summary = render(cli, config, tmp_path / "off")
    assert "CORS: none (bucket.cors is false)" in summary
    assert "  cors = null\n" in (tmp_path / "off" / "serving" / "main.tf").read_text()


def test_an_existing_buckets_summary_names_the_cors_step(cli, tmp_path: Path) -> None:
    summary = render(cli, EXAMPLES / "existing-bucket" / "iac.yaml", tmp_path / "b")
    assert "CORS: not managed here (an existing bucket): add {provider: gcp, bucket: acme-annotation-images}" in summary
    assert "iac cors apply" in summary
    assert "  cors = null\n" in (tmp_path / "b" / "serving" / "main.tf").read_text()
