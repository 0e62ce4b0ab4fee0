"""A stand-in for the rendered configuration, made only of Terraform's built-in resources.

It has the same two root modules as the real rendering, with the outputs iac reads: serving/ (the policies,
the URL map) and allowlist/ (its rules change exactly when the allowlist does), so plan, apply and the
invalidation decision can run on a real Terraform core offline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from iac.allowlist.baseline import PROVISIONAL_MARK, check_adopted
from iac.allowlist.rules import Assignment, Rule, assign
from iac.config.load import LoadedConfig
from iac.config.models import Config
from iac.terraform import hcl


@dataclass(frozen=True)
class FakeRendered:
    files: dict[str, bytes]
    resources: int
    ranges: int
    assignment: Assignment
    imports: tuple[int, ...] = ()


def render_builtin(
    loaded: LoadedConfig,
    current: Sequence[Rule] | None = None,
    *,
    repack: bool = False,
    provisional: bool = False,
    imports: Sequence[int] = (),
) -> FakeRendered:
    """Both root modules, as built-in resources: serving/ (the policies, without rules, and the URL map) and
    allowlist/ (one `terraform_data` a rule and policy, keyed "<policy>-<priority>" as the real module keys
    its rules, and import blocks for `imports` as the real allowlist/imports.tf has them)."""
    config = loaded.config
    assignment = assign(loaded.allowlist.ranges, current, config.allowlist_max_rules, repack=repack)
    check_adopted(tuple(imports), assignment)
    ranges = hcl.value(list(loaded.allowlist.ranges), indent=2)
    rules = hcl.value([{"priority": r.priority, "ranges": list(r.ranges)} for r in assignment.rules], indent=4)
    mark = f"\n  {PROVISIONAL_MARK}" if provisional else ""
    serving = f"""terraform {{
  required_version = ">= 1.5.0"
}}

# The policies hold their default deny rule and ignore the rules the allowlist root adds, as the real ones do.
resource "terraform_data" "edge_policy" {{
  input = "deny"

  lifecycle {{
    ignore_changes = [input]
  }}
}}

resource "terraform_data" "backend_policy" {{
  input = "deny"

  lifecycle {{
    ignore_changes = [input]
  }}
}}

resource "terraform_data" "url_map" {{
  input = {hcl.string(config.name + "-url-map")}
}}

output "bucket_name" {{
  value = {hcl.string(config.bucket.name)}
}}

output "domain" {{
  value = {hcl.string(config.domain)}
}}

output "ip_address" {{
  value = "34.120.0.10"
}}

output "project_id" {{
  value = {hcl.string(config.project)}
}}

output "url_map_name" {{
  value = terraform_data.url_map.output
}}
"""
    # The deployment's identity and rules are written as allowlist/main.tf.j2 writes them in the module call,
    # so an earlier rendering is read back (iac.allowlist.baseline) as the real one is.
    allowlist = f"""terraform {{
  required_version = ">= 1.5.0"
}}

locals {{
  project_id = {hcl.string(config.project)}
  name       = {hcl.string(config.name)}{mark}
  allowlist = {{
    rules = {rules}
  }}
  ranges = {ranges}
  rules = merge([
    for policy in ["edge", "backend"] : {{
      for rule in local.allowlist.rules : "${{policy}}-${{rule.priority}}" => rule.ranges
    }}
  ]...)
}}

resource "terraform_data" "rule" {{
  for_each = local.rules
  input    = each.value
}}

output "allowlist_ranges" {{
  value = local.ranges
}}

output "domain" {{
  value = {hcl.string(config.domain)}
}}

output "project_id" {{
  value = {hcl.string(config.project)}
}}

output "url_map_name" {{
  value = {hcl.string(config.name + "-url-map")}
}}
"""
    files = {"serving/main.tf": serving.encode(), "allowlist/main.tf": allowlist.encode()}
    if imports:
        policies = {"edge": f"{config.name}-edge-policy", "backend": f"{config.name}-backend-policy"}
        blocks = "".join(
            f'\nimport {{\n  to = terraform_data.rule["{key}-{priority}"]\n'
            f'  id = "projects/{config.project}/global/securityPolicies/{policy}/priority/{priority}"\n}}\n'
            for priority in sorted(set(imports))
            for key, policy in policies.items()
        )
        files["allowlist/imports.tf"] = ("# Adopts the rules of the single-root layout.\n" + blocks).encode()
    return FakeRendered(
        files=files,
        resources=3 + 2 * len(assignment.rules),
        ranges=len(loaded.allowlist.ranges),
        assignment=assignment,
        imports=tuple(sorted(set(imports))),
    )


def hmac_key_standins(config: Config) -> str:
    """The module's HMAC key and what depends on it, as built-in resources with the module's lifecycle shape
    (modules/gcp-direct-access/service-account.tf; tests/test_hmac_rotate.py holds the two shapes equal).

    `service_account` is replaced when `name` changes (a new account_id), which replaces the key as a new
    service_account_email does; the backend service is updated in place to the new key's id, as its
    aws_v4_authentication is to the new key's access id and secret.
    """
    return f"""
resource "terraform_data" "service_account" {{
  triggers_replace = {hcl.string(config.name + "-reader")}
}}

resource "terraform_data" "hmac_key_generation" {{
  input = {config.hmac_key.generation}
}}

resource "terraform_data" "hmac_key" {{
  triggers_replace = terraform_data.service_account.id

  lifecycle {{
    create_before_destroy = true
    replace_triggered_by  = [terraform_data.hmac_key_generation]
  }}
}}

resource "terraform_data" "backend_service" {{
  input = terraform_data.hmac_key.id
}}
"""


def render_builtin_with_hmac_key(
    loaded: LoadedConfig,
    current: Sequence[Rule] | None = None,
    *,
    repack: bool = False,
    provisional: bool = False,
    imports: Sequence[int] = (),
) -> FakeRendered:
    """`render_builtin` and the HMAC key's stand-ins (`hmac_key_standins`) in serving/."""
    rendered = render_builtin(loaded, current, repack=repack, provisional=provisional, imports=imports)
    main = rendered.files["serving/main.tf"] + hmac_key_standins(loaded.config).encode()
    files = {**rendered.files, "serving/main.tf": main}
    return dataclasses.replace(rendered, files=files, resources=rendered.resources + 4)
