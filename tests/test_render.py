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
ROOT_FILES = [".gitignore", "backend.tf", "main.tf", "outputs.tf", "versions.tf"]


def render(cli, config: Path, out: Path) -> str:
    result = cli("render", "-c", config, "-o", out)
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def tree(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_documented_example_matches_golden_files(cli, tmp_path: Path) -> None:
    out = tmp_path / "build"
    render(cli, EXAMPLES / "documented" / "iac.yaml", out)
    for name in ROOT_FILES:
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
    # The module is copied, so the output works without iac: nothing points outside the directory.
    module_dir = Path(__file__).parent.parent / "modules" / "gcp-direct-access"
    for path in module_dir.iterdir():
        assert first[f"modules/gcp-direct-access/{path.name}"] == path.read_bytes()
    assert 'source = "./modules/gcp-direct-access"' in first["main.tf"].decode()


def test_rerender_keeps_terraform_files_and_removes_stale_ones(cli, example_config, tmp_path: Path) -> None:
    out = tmp_path / "build"
    config = example_config("documented")
    render(cli, config, out)
    assert (out / "backend.tf").exists()
    # What Terraform and the user keep beside the rendered files must survive every render.
    (out / ".terraform").mkdir()
    (out / ".terraform" / "modules.json").write_text("{}")
    (out / "terraform.tfstate").write_text('{"version": 4}')
    (out / "notes.md").write_text("mine")

    config.write_text(config.read_text().split("terraform:")[0])  # drop the backend
    stdout = render(cli, config, out)
    assert not (out / "backend.tf").exists()
    assert "removed stale file backend.tf" in stdout
    assert (out / ".terraform" / "modules.json").read_text() == "{}"
    assert (out / "terraform.tfstate").read_text() == '{"version": 4}'
    assert (out / "notes.md").read_text() == "mine"


def test_refuses_to_overwrite_files_it_did_not_write(cli, tmp_path: Path) -> None:
    out = tmp_path / "repo"
    out.mkdir()
    (out / "main.tf").write_text("# hand-written\n")
    result = cli("render", "-c", EXAMPLES / "documented" / "iac.yaml", "-o", out)
    assert result.exit_code == 1
    assert "is not empty and holds no .iac-files" in result.stderr
    (out / ".iac-files").touch()  # adopted on purpose: its files are still not iac's
    result = cli("render", "-c", EXAMPLES / "documented" / "iac.yaml", "-o", out)
    assert result.exit_code == 1
    assert "would overwrite files iac did not write (main.tf)" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == [".iac-files", "main.tf"]
    assert (out / "main.tf").read_text() == "# hand-written\n"


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
    # The same in the plain list of earlier versions.
    names = json.loads((out / ".iac-files").read_text())["files"]
    (out / ".iac-files").write_text("# Files written by `iac render`\n" + "".join(f"{n}\n" for n in names))
    with (out / ".iac-files").open("a") as manifest:
        manifest.write(f"../precious.txt\n{victim}\n")
    render(cli, EXAMPLES / "documented" / "iac.yaml", out)
    assert victim.read_text() == "keep"


def test_summary_counts_resources_ranges_and_rules(cli, tmp_path: Path) -> None:
    stdout = render(cli, EXAMPLES / "large-allowlist" / "iac.yaml", tmp_path / "b")
    assert "1198 ranges (1200 entries, 2 merged) in 120 rules of each Cloud Armor policy" in stdout
    # bucket, 2 policies, NEG, endpoint, backend service, address, certificate, SSL policy, 2 URL maps,
    # 2 proxies, 2 forwarding rules, service account, IAM member, HMAC key, DNS record.
    stdout = render(cli, EXAMPLES / "documented" / "iac.yaml", tmp_path / "d")
    assert "19 resources in project my-gcp-project" in stdout
    stdout = render(cli, EXAMPLES / "existing-bucket" / "iac.yaml", tmp_path / "c")
    assert "17 resources in project acme-data-prod" in stdout  # no bucket, no DNS record
    assert "bucket acme-annotation-images (existing, not managed)" in stdout
    assert "DNS: not managed; create the A record for annotations.data.acme.com" in stdout


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
    parsed = hcl2.load((tmp_path / "out" / "backend.tf").open())
    [terraform_block] = unquote(parsed)["terraform"]
    [backend] = terraform_block["backend"]
    assert list(backend) == ["gcs"]
    assert sorted(backend["gcs"]) == ["bucket", "prefix"]
    assert "$${var.x}" in (tmp_path / "out" / "backend.tf").read_text()
    assert "%%{if true}" in (tmp_path / "out" / "backend.tf").read_text()


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
    root = parse_dir(tmp_path / "b")
    [module] = [m["direct_access"] for m in root["module"]]
    assert module["source"] == "./modules/gcp-direct-access"
    assert module["project_id"] == config["project"]
    assert module["domain"] == config["domain"]
    assert module["dns_zone"] == config.get("dns_zone")
    assert module["bucket"]["name"] == config["bucket"]["name"]
    assert module["bucket"]["create"] == config["bucket"].get("create", True)
    rules = module["allowlist"]["rules"]
    # A fresh rendering packs optimally: full rules of 10 at consecutive priorities from 1000, in order.
    ranges = load_config(EXAMPLES / example / "iac.yaml").allowlist.ranges
    assert [r for rule in rules for r in rule["ranges"]] == list(ranges)
    assert [rule["priority"] for rule in rules] == list(range(1000, 1000 + len(rules)))
    assert all(len(rule["ranges"]) == 10 for rule in rules[:-1]) and 1 <= len(rules[-1]["ranges"]) <= 10
    assert [p["google"]["project"] for p in root["provider"]] == [config["project"]]
    outputs = {name for block in root["output"] for name in block}
    assert {"url_map_name", "domain", "project_id", "ip_address"} <= outputs
    assert ("dns_record_to_create" in outputs) == ("dns_zone" not in config)
    assert ("backend.tf" in {p.name for p in (tmp_path / "b").iterdir()}) == ("terraform" in config)
    for block in root["output"]:
        for body in block.values():
            assert "secret" not in str(body["value"])
            assert not body.get("sensitive")


def module_instances(body: dict, inputs: dict, local_values: dict) -> int:
    """The instances a resource block creates for the module call's `inputs`, from python-hcl2's reading of its
    `count` or `for_each`: the forms the module uses (`var.a.b [!= null] ? N : M`, `local.MAP`), else a failure."""
    if "count" in body:
        match = re.fullmatch(r"\$\{var\.([\w.]+)(?: (==|!=) null)? \? (\d+) : (\d+)\}", str(body["count"]))
        assert match, f"cannot evaluate count = {body['count']}"
        value: object = inputs
        for part in match.group(1).split("."):
            assert isinstance(value, dict)
            value = value[part]
        holds = {None: value, "!=": value is not None, "==": value is None}[match.group(2)]
        assert isinstance(holds, bool)
        return int(match.group(3)) if holds else int(match.group(4))
    if "for_each" in body:
        match = re.fullmatch(r"\$\{local\.(\w+)\}", str(body["for_each"]))
        assert match, f"cannot evaluate for_each = {body['for_each']}"
        return len(local_values[match.group(1)])
    return 1


@pytest.mark.parametrize("dns", ["as in the example", "the other way"])
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_summary_counts_the_resource_instances_of_the_module(
    example: str, dns: str, cli, example_config, tmp_path: Path
) -> None:
    """The summary's count (iac's own reading of the module) is what python-hcl2 reads the module to create."""
    from iac.terraform.render import module_resources

    config = example_config(example)
    if dns == "the other way":  # every combination of a created bucket and a DNS record
        text = config.read_text()
        flipped = text.replace("dns_zone: acme-com\n", "")
        config.write_text(flipped if flipped != text else text + "dns_zone: acme-com\n")
    stdout = render(cli, config, tmp_path / "b")
    [inputs] = [m["direct_access"] for m in parse_dir(tmp_path / "b")["module"]]
    module = parse_dir(tmp_path / "b" / "modules" / "gcp-direct-access")
    local_values = {name: value for block in module["locals"] for name, value in block.items()}
    expected = {address: module_instances(body, inputs, local_values) for address, body in resources(module).items()}
    in_project = sum(count for address, count in expected.items() if address.startswith("google_"))
    assert f"  {in_project} resources in project " in stdout
    flags = {"create_bucket": inputs["bucket"]["create"], "manage_dns": inputs["dns_zone"] is not None}
    assert {resource.address: resource.count(flags) for resource in module_resources()} == expected


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
    module_dir = tmp_path / "b" / "modules" / "gcp-direct-access"
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
    # The root states every rule; the module neither chunks nor renumbers (that would move ranges).
    assert "chunklist" not in text
    assert 'for rule in var.allowlist.rules : format("allow-%d", rule.priority)' in text
    assert "2147483647" in text and '"deny(403)"' in text

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
        # Writing past 16 KiB fails with EFBIG (SIGXFSZ ignored): the large allowlist's main.tf is bigger.
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
    [module] = [m["direct_access"] for m in parse_dir(tmp_path / "on")["module"]]
    assert module["cors"]["origins"] == list(DEFAULT_CORS_ORIGINS)
    assert module["cors"]["methods"] == ["GET", "HEAD"]

    config.write_text(config.read_text().replace("  create: true\n", "  create: true\n  cors: false\n"))
    summary = render(cli, config, tmp_path / "off")
    assert "CORS: none (bucket.cors is false)" in summary
    assert "  cors = null\n" in (tmp_path / "off" / "main.tf").read_text()


def test_an_existing_buckets_summary_names_the_cors_step(cli, tmp_path: Path) -> None:
    summary = render(cli, EXAMPLES / "existing-bucket" / "iac.yaml", tmp_path / "b")
    assert "CORS: not managed here (an existing bucket): add {provider: gcp, bucket: acme-annotation-images}" in summary
    assert "iac cors apply" in summary
    assert "  cors = null\n" in (tmp_path / "b" / "main.tf").read_text()
