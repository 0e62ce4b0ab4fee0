"""The Terraform we write, checked offline against the google provider's own schema, at both ends of the range of
versions it allows (hashicorp/google 6.50.0 and 8.7.0, `RANGE_ENDS`).

Each schema is derived by tests/provider_schema.py from the provider's CDK bindings (see its docstring) into
.tools/google-provider-schema-<version>.json by tests/install-tools.sh. Checked: every resource, data and import
block (and the google provider block) of both modules (modules/gcp-direct-access and
modules/gcp-direct-access-allowlist), of each root module (serving/, allowlist/) of each example's rendering and
of an upgraded rendering (allowlist/imports.tf), and of `iac cors render`'s Terraform, for unknown attributes and
blocks, blocks written as attributes and the reverse, missing required attributes and blocks, and literal strings
outside an enum's documented "Possible values". Terraform's own `terraform_data`, every `lifecycle` block (and the
names its `ignore_changes` lists, against the resource's schema) and every `import` block are checked against
Terraform's documented arguments. Blocks of other providers (the aws_* CORS Terraform) are not in this schema: they
are skipped, and listed as skipped.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import hcl2
import provider_schema
import pytest
from provider_schema import Findings, SchemaBuildError

from conftest import EXAMPLE_NAMES, EXAMPLES, ROOT, TOOLS

# Each root module of a rendering, and the module it calls (copied into it).
ROOTS = {"serving": "gcp-direct-access", "allowlist": "gcp-direct-access-allowlist"}
MODULES = [ROOT / "modules" / module for module in ROOTS.values()]
SINGLE_ROOT = Path(__file__).resolve().parent / "fixtures" / "single-root"
# The oldest and the newest release of hashicorp/google that versions.tf allows and a schema exists for, each with
# the bindings its schema is derived from (tests/install-tools.sh builds both).
RANGE_ENDS = {"6.50.0": "@cdktf/provider-google@16.12.1", "8.7.0": "@cdktn/provider-google@21.1.0"}
ALLOWED = ">= 6.0, < 9.0"


def schema_file(version: str) -> Path:
    return TOOLS / f"google-provider-schema-{version}.json"


@pytest.fixture(scope="module", params=list(RANGE_ENDS))
def schema(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The provider's schema at each end of the range (every test that uses it runs against both)."""
    path = schema_file(request.param)
    if not path.is_file():
        pytest.fail(f"google provider schema not found at {path}: run `bash tests/install-tools.sh`")
    loaded = provider_schema.load(path)
    assert loaded["provider"] == {
        "source": "hashicorp/google",
        "version": request.param,
        "bindings": RANGE_ENDS[request.param],
    }
    return loaded


def required_google(parsed: dict[str, Any]) -> str:
    [terraform] = parsed["terraform"]
    [providers] = terraform["required_providers"]
    return str(providers["google"]["version"]).strip('"')


def test_the_allowed_range_is_the_one_checked(tmp_path: Path, cli) -> None:
    """versions.tf of both modules and of both roots of a rendering allow exactly the majors whose ends are checked
    here."""
    result = cli("render", "-c", EXAMPLES / "documented" / "iac.yaml", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    for path in [module / "versions.tf" for module in MODULES] + [tmp_path / "out" / r / "versions.tf" for r in ROOTS]:
        assert required_google(hcl2.loads(path.read_text())) == ALLOWED, path
    majors = sorted(int(version.split(".")[0]) for version in RANGE_ENDS)
    assert f">= {majors[0]}.0, < {majors[-1] + 1}.0" == ALLOWED


def check_files(paths: list[Path], schema: dict[str, Any], base: Path, label: str) -> Findings:
    findings = Findings()
    for path in sorted(paths):
        findings.add(provider_schema.check_text(path.read_text(), schema, f"{label}{path.relative_to(base)}"))
    return findings


def declared_blocks(paths: list[Path]) -> set[str]:
    """Addresses of every resource and data block in the files, as the checker names them (no file prefix), and
    each import block as `import to ADDRESS`."""
    found = set()
    for path in paths:
        parsed = hcl2.loads(path.read_text())
        for keyword, prefix in (("resource", ""), ("data", "data.")):
            for group in parsed.get(keyword, []):
                for tf_type, named in group.items():
                    names = [name for name in named if not name.startswith("__")]  # python-hcl2's __is_block__
                    found |= {prefix + f"{tf_type}.{name}".replace('"', "") for name in names}
        found |= {f"import to {block['to'][2:-1]}" for block in parsed.get("import", [])}
    return found


def no_problems(findings: Findings, what: str) -> str:
    return (
        f"{what} does not match the google provider schema ({len(findings.problems)} problems; "
        "a genuine defect of the Terraform, not of this test):\n  " + "\n  ".join(findings.problems)
    )


# --- the real Terraform -------------------------------------------------------------------------------------------


# The blocks that matter most in each module: the serving module's load balancer, bucket and policies (with their
# default rule and `ignore_changes = [rule]`), the allowlist module's standalone rules.
ESSENTIAL = {
    "gcp-direct-access": {
        "google_compute_backend_service.default",
        "google_compute_security_policy.default",
        "google_storage_bucket.bucket",
        "data.google_storage_bucket.bucket",
    },
    "gcp-direct-access-allowlist": {"google_compute_security_policy_rule.allow"},
}


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.name)
def test_module_matches_the_provider_schema(module: Path, schema: dict[str, Any]) -> None:
    paths = sorted(module.glob("*.tf"))
    findings = check_files(paths, schema, ROOT, "")
    assert not findings.problems, no_problems(findings, f"modules/{module.name}")
    checked = {entry.split(": ", 1)[1] for entry in findings.checked}
    # Every block was judged (none skipped, none missed), and the ones that matter most are among them.
    assert not findings.skipped
    assert checked == declared_blocks(paths)
    assert ESSENTIAL[module.name] <= checked


def check_roots(out: Path, schema: dict[str, Any], what: str) -> dict[str, set[str]]:
    """Check each root module of the rendering in `out` on its own (its files and its copy of its module): no
    problem, nothing skipped, every block judged, and the root's provider block. The blocks checked, by root."""
    checked = {}
    for root in ROOTS:
        paths = sorted((out / root).rglob("*.tf"))
        findings = check_files(paths, schema, out, f"<{what}>/")
        assert not findings.problems, no_problems(findings, f"{root}/ of {what}")
        assert not findings.skipped
        blocks = [entry.split(": ", 1)[1] for entry in findings.checked]
        assert sorted(blocks) == sorted([*declared_blocks(paths), "provider.google"]), root
        checked[root] = set(blocks)
    return checked


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_rendering_matches_the_provider_schema(example: str, cli, schema: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli("render", "-c", EXAMPLES / example / "iac.yaml", "-o", out)
    assert result.exit_code == 0, result.output
    checked = check_roots(out, schema, f"render of examples/{example}")
    assert {"google_compute_backend_service.default", "google_compute_security_policy.default"} <= checked["serving"]
    assert {"google_storage_bucket.bucket", "data.google_storage_bucket.bucket"} <= checked["serving"]
    assert checked["allowlist"] == {"google_compute_security_policy_rule.allow", "provider.google"}


@pytest.mark.parametrize("example", sorted(p.name for p in SINGLE_ROOT.iterdir()))
def test_upgraded_rendering_with_its_imports_matches_the_provider_schema(
    example: str, cli, schema: dict[str, Any], tmp_path: Path
) -> None:
    """The rendering that upgrades a single-root layout: allowlist/imports.tf imports each deployed rule into the
    rule resource of its policy and priority, by the id the provider imports that resource by."""
    import yaml

    shutil.copyfile(EXAMPLES / example / "iac.yaml", tmp_path / "iac.yaml")
    out = tmp_path / "build"
    shutil.copytree(SINGLE_ROOT / example, out)
    result = cli("render", "-c", tmp_path / "iac.yaml", "-o", out)
    assert result.exit_code == 0, result.output
    checked = check_roots(out, schema, f"upgraded render of examples/{example}")
    imports = sorted(block for block in checked["allowlist"] if block.startswith("import to "))
    settings = yaml.safe_load((tmp_path / "iac.yaml").read_text())
    project, name = settings["project"], settings.get("name", "encord-da")
    [module] = [body for m in hcl2.loads((out / "allowlist" / "main.tf").read_text())["module"] for body in m.values()]
    priorities = [int(rule["priority"]) for rule in module["allowlist"]["rules"]]
    assert imports and len(imports) == 2 * len(priorities)
    assert "google_compute_security_policy_rule.allow" in checked["allowlist"]  # in the root's module copy
    # Each import names a rule resource of the module the root calls (module.allowlist, the rule resource of
    # modules/gcp-direct-access-allowlist), at a key the module creates, with the id of that policy and priority.
    assert module["source"] == '"./modules/gcp-direct-access-allowlist"'
    blocks = hcl2.loads((out / "allowlist" / "imports.tf").read_text())["import"]
    pairs = {}
    for block in blocks:
        to = re.fullmatch(
            r'\$\{module\.allowlist\.google_compute_security_policy_rule\.allow\["(\w+)-(\d+)"\]\}', block["to"]
        )
        assert to, block["to"]
        pairs[(to.group(1), int(to.group(2)))] = block["id"].strip('"')
    assert pairs == {
        (policy, priority): f"projects/{project}/global/securityPolicies/{name}-{policy}-policy/priority/{priority}"
        for policy in ("edge", "backend")
        for priority in priorities
    }


def test_cors_terraform_is_for_aws_only_and_is_skipped(cli, schema: dict[str, Any], tmp_path: Path) -> None:
    """`iac cors render` writes Terraform for AWS only (templates/cors): hashicorp/aws, not in the google schema."""
    templates = sorted((ROOT / "templates" / "cors").glob("*.tf.j2"))
    assert [t.name.split(".")[0] for t in templates] == ["aws_s3_bucket_cors_configuration"], (
        "templates/cors has a new Terraform template: check it here if it is for the google provider"
    )
    out = tmp_path / "cors"
    result = cli("cors", "render", "-c", EXAMPLES / "cors" / "iac.yaml", "-o", out)
    assert result.exit_code == 0, result.output
    paths = sorted(out.rglob("*.tf"))
    assert paths, "examples/cors renders no Terraform any more"
    findings = check_files(paths, schema, out, "")
    assert not findings.problems
    assert not findings.checked
    assert findings.skipped == [
        "terraform/aws-s3-acme-s3-data.tf: aws_s3_bucket_cors_configuration.encord_acme_s3_data"
    ]


# --- the checker catches mistakes ---------------------------------------------------------------------------------

MISTAKES = """
resource "google_compute_backend_service" "typo" {
  enable_cdnn           = true
  load_balancing_scheme = "EXTERNAL_MANAGEDD"
  protocol              = "HTTPS"
  cdn_policy = {
    cache_mode = "FORCE_CACHE_ALL"
  }
  custom_request_headers {
    host = "x"
  }
  security_settings {
    aws_v4_authentication {
      access_key_id = "id"
      origin_regoin = "auto"
    }
  }
  log_config {
    enable = true
  }
  log_config {
    enable = false
  }
}

resource "google_compute_security_policy" "policy" {
  name = "p"
  dynamic "rule" {
    for_each = local.rules
    content {
      action   = rule.value.action
      priority = rule.value.priority
    }
  }
  rule {
    action   = "allow"
    priority = 1
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_range = ["10.0.0.0/8"]
      }
    }
  }
}

resource "google_compute_global_address" "nope" {
  name = "a"
  frobnicate {
  }
}

resource "google_compute_load_balancer" "made_up" {
  name = "x"
}

data "google_storage_bucket" "no_name" {
  project = "p"
}

provider "google" {
  projet = "p"
}
"""


def test_checker_reports_each_kind_of_mistake(schema: dict[str, Any]) -> None:
    findings = provider_schema.check_text(MISTAKES, schema, "mistakes.tf")
    backend = "mistakes.tf: google_compute_backend_service.typo"
    policy = "mistakes.tf: google_compute_security_policy.policy"
    assert findings.problems == [
        f"{backend}: enable_cdnn: unknown attribute",
        f"{backend}: load_balancing_scheme: 'EXTERNAL_MANAGEDD' is not one of the possible values "
        "['EXTERNAL', 'INTERNAL_SELF_MANAGED', 'INTERNAL_MANAGED', 'EXTERNAL_MANAGED']",
        f"{backend}: cdn_policy: is a nested block, written as an attribute (write `cdn_policy {{ ... }}`)",
        f"{backend}: custom_request_headers: is an attribute, written as a block "
        "(write `custom_request_headers = ...`)",
        f"{backend}: security_settings.aws_v4_authentication.origin_regoin: unknown attribute",
        f"{backend}: log_config: written 2 times, allowed at most once",
        f"{backend}: name: required attribute missing",
        # Inside `dynamic "rule" { content { ... } }` as in a plain rule block.
        f"{policy}: rule.match: required block missing",
        f"{policy}: rule.match.config.src_ip_range: unknown attribute",
        f"{policy}: rule.match.config.src_ip_ranges: required attribute missing",
        "mistakes.tf: google_compute_global_address.nope: frobnicate: unknown block",
        "mistakes.tf: google_compute_load_balancer.made_up: google_compute_load_balancer: unknown resource type",
        "mistakes.tf: data.google_storage_bucket.no_name: name: required attribute missing",
        "mistakes.tf: provider.google: projet: unknown attribute",
    ]


CORRECT = """
resource "google_compute_backend_service" "ok" {
  count                 = var.enabled ? 1 : 0
  provider              = google.other
  name                  = "${var.name}-backend"
  load_balancing_scheme = var.scheme
  protocol              = "${var.protocol}"
  session_affinity      = "$${NOT_AN_INTERPOLATION}"
  compression_mode      = "DISABLED"
  depends_on            = [google_compute_global_address.a]
  custom_request_headers = []
  dynamic "backend" {
    for_each = var.groups
    iterator = group
    content {
      group = group.value
    }
  }
  lifecycle {
    ignore_changes        = [description]
    create_before_destroy = true
  }
}

resource "aws_s3_bucket" "elsewhere" {
  bucket = "b"
}
"""


def test_checker_accepts_meta_arguments_expressions_and_dynamic_blocks(schema: dict[str, Any]) -> None:
    findings = provider_schema.check_text(CORRECT, schema, "ok.tf")
    # "$${...}" is the literal text "${...}": not an expression, so it is judged (and is no session affinity).
    assert findings.problems == [
        "ok.tf: google_compute_backend_service.ok: session_affinity: '$${NOT_AN_INTERPOLATION}' is not one of the "
        "possible values ['NONE', 'CLIENT_IP', 'CLIENT_IP_PORT_PROTO', 'CLIENT_IP_PROTO', 'GENERATED_COOKIE', "
        "'HEADER_FIELD', 'HTTP_COOKIE', 'STRONG_COOKIE_AFFINITY']"
    ]
    assert findings.checked == ["ok.tf: google_compute_backend_service.ok"]
    assert findings.skipped == ["ok.tf: aws_s3_bucket.elsewhere"]


BUILTIN_MISTAKES = """
resource "terraform_data" "generation" {
  input            = 1
  trigers_replace  = [1]
}

resource "google_storage_hmac_key" "key" {
  service_account_email = "a@b"
  lifecycle {
    create_before_destroi = true
    replace_triggered_by  = [terraform_data.generation]
    precondition {
      condition = true
    }
  }
}
"""


def test_checker_judges_terraform_data_and_lifecycle_blocks(schema: dict[str, Any]) -> None:
    """The module's key rotation rests on `terraform_data` and a lifecycle block: a misspelt argument in either is
    reported here, offline, as one in a google resource is."""
    findings = provider_schema.check_text(BUILTIN_MISTAKES, schema, "b.tf")
    assert findings.problems == [
        "b.tf: terraform_data.generation: trigers_replace: unknown attribute",
        "b.tf: google_storage_hmac_key.key: lifecycle.create_before_destroi: unknown attribute",
        "b.tf: google_storage_hmac_key.key: lifecycle.precondition.error_message: required attribute missing",
    ]
    assert findings.checked == ["b.tf: terraform_data.generation", "b.tf: google_storage_hmac_key.key"]
    assert not findings.skipped


IMPORTS_AND_IGNORED = """
resource "google_compute_security_policy" "misspelt" {
  name = "p"
  lifecycle {
    ignore_changes = [rules]
  }
}

resource "google_compute_security_policy" "ok" {
  name = "q"
  lifecycle {
    ignore_changes = [rule, description, adaptive_protection_config[0].layer_7_ddos_defense_config]
  }
}

import {
  to = module.allowlist.google_compute_security_policy_rules.allow["edge-1000"]
  id = "projects/p/global/securityPolicies/q/priority/1000"
}

import {
  to = module.allowlist.google_compute_security_policy_rule.allow["edge-1000"]
}

import {
  to  = google_compute_security_policy_rule.allow["backend-1000"]
  id  = "projects/p/global/securityPolicies/q/priority/1000"
  idd = "typo"
}

import {
  to = module.allowlist.google_compute_security_policy_rule.allow["edge-1001"]
  id = "projects/p/global/securityPolicies/q/priority/1001"
}

import {
  to = aws_s3_bucket.elsewhere
  id = "b"
}
"""


def test_checker_judges_import_blocks_and_what_ignore_changes_names(schema: dict[str, Any]) -> None:
    """The serving policies' `ignore_changes = [rule]` and the upgrade's import blocks: a misspelt name in either
    is reported here, offline (Terraform reports it only with the provider's schema loaded)."""
    findings = provider_schema.check_text(IMPORTS_AND_IGNORED, schema, "i.tf")
    into = "i.tf: import to module.allowlist.google_compute_security_policy_rule"
    assert findings.problems == [
        "i.tf: google_compute_security_policy.misspelt: lifecycle.ignore_changes: 'rules' is neither an argument "
        "nor a block of the resource",
        'i.tf: import to module.allowlist.google_compute_security_policy_rules.allow["edge-1000"]: '
        "google_compute_security_policy_rules: unknown resource type",
        f'{into}.allow["edge-1000"]: id: required attribute missing',
        'i.tf: import to google_compute_security_policy_rule.allow["backend-1000"]: idd: unknown attribute',
    ]
    assert len(findings.checked) == 6
    assert f'{into}.allow["edge-1001"]' in findings.checked
    assert findings.skipped == ["i.tf: import to aws_s3_bucket.elsewhere"]


# --- the schema itself: what the extraction found, and how it works -----------------------------------------------


def test_schema_holds_what_the_module_relies_on(schema: dict[str, Any]) -> None:
    assert len(schema["resources"]) > 1000 and len(schema["data_sources"]) > 300
    backend = schema["resources"]["google_compute_backend_service"]
    assert backend["attributes"]["name"]["required"] is True
    assert "EXTERNAL_MANAGED" in backend["attributes"]["load_balancing_scheme"]["enum"]
    assert backend["blocks"]["backend"]["nesting"] == "set"
    security = backend["blocks"]["security_settings"]
    assert security["nesting"] == "single"
    aws = security["block"]["blocks"]["aws_v4_authentication"]
    assert set(aws["block"]["attributes"]) >= {"access_key_id", "access_key", "origin_region"}
    rule = schema["resources"]["google_compute_security_policy"]["blocks"]["rule"]
    assert rule["block"]["blocks"]["match"]["required"] is True
    assert rule["block"]["blocks"]["match"]["block"]["blocks"]["config"]["block"]["attributes"]["src_ip_ranges"] == {
        "required": True,
        "type": "stringList",
    }
    assert schema["data_sources"]["google_storage_bucket"]["attributes"]["name"]["required"] is True
    # The allowlist module's standalone rule: one rule of a policy, keyed by the policy and its priority.
    standalone = schema["resources"]["google_compute_security_policy_rule"]
    assert {name for name, a in standalone["attributes"].items() if a["required"]} == {
        "action",
        "priority",
        "security_policy",
    }
    assert {"project", "description"} <= set(standalone["attributes"])
    config = standalone["blocks"]["match"]["block"]["blocks"]["config"]
    assert config["block"]["attributes"]["src_ip_ranges"]["type"] == "stringList"
    assert standalone["blocks"]["match"]["block"]["attributes"]["versioned_expr"]["enum"] == ["SRC_IPS_V1"]
    # A property cdktf renames (clash with its base class) keeps its Terraform name.
    assert "build" in schema["resources"]["google_cloudbuild_trigger"]["blocks"]


def entry(snake: str, reads: str, block: bool, nesting: str, storage: str) -> str:
    return (
        f"        {snake}: {{\n            value: mapper({reads}),\n            isBlock: {str(block).lower()},\n"
        f'            type: "{nesting}",\n            storageClassType: "{storage}",\n        }},\n'
    )


def link(anchor: str) -> dict[str, str]:
    return {"summary": f"Docs: {{@link https://registry.terraform.io/x#{anchor} X#{anchor}}}."}


def jsii_struct(fqn: str, *properties: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "interface", "datatype": True, "name": fqn.rsplit(".", 1)[1], "properties": list(properties)}


def jsii_class(fqn: str, base: str, config: str, summary: str = "") -> dict[str, Any]:
    initializer = {"parameters": [{"name": "config", "type": {"fqn": config}}]}
    return {
        "kind": "class",
        "name": fqn.rsplit(".", 1)[1],
        "base": base,
        "docs": {"summary": summary},
        "initializer": initializer,
    }


def fake_bindings(tmp_path: Path, config_rename: str = "mode") -> Path:
    """A wheel shaped like cdktf's: a resource with a renamed property, a repeated and a single block, an enum."""
    ns, provider = "@cdktf/provider-google.thing.", "@cdktf/provider-google.provider."
    string, optional = {"primitive": "string"}, {"optional": True}
    rules = {"collection": {"kind": "array", "elementtype": {"fqn": ns + "ThingRule"}}}
    mode_docs = {"summary": "Mode.", "remarks": 'Possible values: ["FAST", "SLOW"]\n\n' + link("mode")["summary"]}
    types = {
        ns + "Thing": jsii_class(ns + "Thing", "cdktf.TerraformResource", ns + "ThingConfig"),
        ns + "ThingConfig": jsii_struct(
            ns + "ThingConfig",
            {"name": "name", "type": string, "docs": link("name")},
            {"name": "buildAttribute", "type": string, **optional, "docs": link("build")},
            {"name": "mode", "type": string, **optional, "docs": mode_docs},
            {"name": "rule", "type": {"union": {"types": [{"fqn": "cdktf.IResolvable"}, rules]}}, **optional},
            {"name": "settings", "type": {"fqn": ns + "ThingSettings"}, "docs": link("settings")},
        ),
        ns + "ThingRule": jsii_struct(ns + "ThingRule", {"name": "action", "type": string}),
        ns + "ThingSettings": jsii_struct(ns + "ThingSettings"),
        provider + "GoogleProvider": jsii_class(
            provider + "GoogleProvider",
            "cdktf.TerraformProvider",
            provider + "GoogleProviderConfig",
            "{@link https://registry.terraform.io/providers/hashicorp/google/6.50.0/docs google}",
        ),
        provider + "GoogleProviderConfig": jsii_struct(
            provider + "GoogleProviderConfig", {"name": "project", "type": string, **optional}
        ),
    }
    thing_js = (
        "class Thing extends cdktf.TerraformResource {\n    constructor(scope, id, config) {\n"
        "        this._build = config.buildAttribute;\n        this._rule.internalValue = config.rule;\n    }\n"
        "    synthesizeHclAttributes() {\n        const attrs = {\n"
        + entry("name", "this._name", False, "simple", "string")
        + entry("build", "this._build", False, "simple", "string")
        + entry(config_rename, "this._mode", False, "simple", "string")
        + entry("rule", "this._rule.internalValue", True, "list", "ThingRuleList")
        + entry("settings", "this._settings.internalValue", True, "list", "ThingSettingsList")
        + '        };\n    }\n}\nThing.tfResourceType = "google_thing";\n'
        "function thingRuleToHclTerraform(struct) {\n    const attrs = {\n"
        + entry("action", "struct.action", False, "simple", "string")
        + "    };\n}\nfunction thingSettingsToHclTerraform(struct) {\n    const attrs = {\n    };\n}\n"
    )
    provider_js = (
        "class GoogleProvider extends cdktf.TerraformProvider {\n    synthesizeHclAttributes() {\n"
        "        const attrs = {\n" + entry("project", "this._project", False, "simple", "string") + "        };\n"
        '    }\n}\nGoogleProvider.tfResourceType = "google";\n'
    )
    files = {
        "package/.jsii": json.dumps({"name": "@cdktf/provider-google", "version": "0.0.1", "types": types}),
        "package/lib/thing/index.js": thing_js,
        "package/lib/provider/index.js": provider_js,
    }
    tarball = io.BytesIO()
    with tarfile.open(fileobj=tarball, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    wheel = tmp_path / "fake-0.0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("fake/_jsii/provider-google@0.0.1.jsii.tgz", tarball.getvalue())
    return wheel


def test_extraction_joins_the_jsii_assembly_and_the_mappers(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    assert provider_schema.main(["build", str(out), str(fake_bindings(tmp_path))]) == 0
    assert json.loads(out.read_text()) == {
        "provider": {"source": "hashicorp/google", "version": "6.50.0", "bindings": "@cdktf/provider-google@0.0.1"},
        "provider_config": {"attributes": {"project": {"required": False, "type": "string"}}, "blocks": {}},
        "data_sources": {},
        "resources": {
            "google_thing": {
                "attributes": {
                    "name": {"required": True, "type": "string"},
                    "build": {"required": False, "type": "string"},  # the property is buildAttribute in cdktf
                    "mode": {"required": False, "type": "string", "enum": ["FAST", "SLOW"]},
                },
                "blocks": {
                    "rule": {
                        "required": False,
                        "nesting": "list",
                        "block": {"attributes": {"action": {"required": True, "type": "string"}}, "blocks": {}},
                    },
                    "settings": {"required": True, "nesting": "single", "block": {"attributes": {}, "blocks": {}}},
                },
            }
        },
    }


def test_extraction_refuses_when_the_mappers_and_the_docs_disagree(tmp_path: Path) -> None:
    with pytest.raises(
        SchemaBuildError, match=r"google_thing: .*ThingConfig\.mode maps to modus but its docs say mode"
    ):
        provider_schema.build(tmp_path / "schema.json", fake_bindings(tmp_path, config_rename="modus"))
    assert not (tmp_path / "schema.json").exists()


def test_extraction_reads_cdk_terrain_bindings_with_a_recursive_block() -> None:
    """CDK Terrain's layout (8.x): `cdktn.*` bases, `static tfResourceType`, write-only attributes, and a struct that
    contains itself, kept once under "recursive" and checked at any depth."""
    ns, provider = "@cdktn/provider-google.tree.", "@cdktn/provider-google.provider."
    string, optional = {"primitive": "string"}, {"optional": True}
    node = {"union": {"types": [{"fqn": "cdktn.IResolvable"}, {"fqn": ns + "TreeNode"}]}}
    types = {
        ns + "Tree": jsii_class(ns + "Tree", "cdktn.TerraformResource", ns + "TreeConfig"),
        ns + "TreeConfig": jsii_struct(
            ns + "TreeConfig",
            {"name": "secretWo", "type": string, **optional},
            {"name": "node", "type": node, **optional},
        ),
        ns + "TreeNode": jsii_struct(
            ns + "TreeNode", {"name": "value", "type": string}, {"name": "child", "type": node, **optional}
        ),
        provider + "GoogleProvider": jsii_class(
            provider + "GoogleProvider",
            "cdktn.TerraformProvider",
            provider + "GoogleProviderConfig",
            "{@link https://registry.terraform.io/providers/hashicorp/google/8.7.0/docs google}",
        ),
        provider + "GoogleProviderConfig": jsii_struct(provider + "GoogleProviderConfig"),
    }
    tree_js = (
        'class Tree extends cdktn.TerraformResource {\n    static tfResourceType = "google_tree";\n'
        "    synthesizeHclAttributes() {\n        const attrs = {\n"
        + entry("secret_wo", "this.markWriteOnlyAttribute(this._secretWo)", False, "simple", "string")
        + entry("node", "this._node.internalValue", True, "list", "TreeNodeList")
        + "        };\n    }\n}\nfunction treeNodeToHclTerraform(struct) {\n    const attrs = {\n"
        + entry("value", "struct.value", False, "simple", "string")
        + entry("child", "struct.child", True, "list", "TreeNodeList")
        + "    };\n}\n"
    )
    provider_js = (
        'class GoogleProvider extends cdktn.TerraformProvider {\n    static tfResourceType = "google";\n'
        "    synthesizeHclAttributes() {\n        const attrs = {\n        };\n    }\n}\n"
    )
    assembly = {"name": "@cdktn/provider-google", "version": "0.0.1", "types": types}
    schema = provider_schema.build_schema(
        assembly, {"lib/tree/index.js": tree_js, "lib/provider/index.js": provider_js}
    )
    tree = schema["resources"]["google_tree"]
    assert tree["attributes"] == {"secret_wo": {"required": False, "type": "string"}}
    node_block = tree["blocks"]["node"]["block"]
    assert node_block["blocks"]["child"]["block"] == {"ref": ns + "TreeNode"}
    assert schema["recursive"] == {ns + "TreeNode": node_block}
    deep = 'resource "google_tree" "t" {\n  node {\n    value = "a"\n    child {\n      child {\n        valu = "c"\n'
    findings = provider_schema.check_text(deep + "      }\n    }\n  }\n}\n", schema, "t.tf")
    assert findings.problems == [
        "t.tf: google_tree.t: node.child.child.valu: unknown attribute",
        "t.tf: google_tree.t: node.child.child.value: required attribute missing",
        "t.tf: google_tree.t: node.child.value: required attribute missing",
    ]
