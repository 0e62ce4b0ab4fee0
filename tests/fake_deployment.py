"""A stand-in for the rendered configuration, made only of Terraform's built-in resources.

It has the same outputs as the real root module, and its "policies" change exactly when the allowlist
does, so plan, apply and the invalidation decision can run on a real Terraform core offline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from iac.allowlist.baseline import PROVISIONAL_MARK
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


def render_builtin(
    loaded: LoadedConfig, current: Sequence[Rule] | None = None, *, repack: bool = False, provisional: bool = False
) -> FakeRendered:
    config = loaded.config
    assignment = assign(loaded.allowlist.ranges, current, config.allowlist_max_rules, repack=repack)
    ranges = hcl.value(list(loaded.allowlist.ranges), indent=2)
    rules = hcl.value([{"priority": r.priority, "ranges": list(r.ranges)} for r in assignment.rules], indent=4)
    mark = f"\n  {PROVISIONAL_MARK}" if provisional else ""
    # The deployment's identity and rules are written as main.tf.j2 writes them in the module call, so an
    # earlier rendering is read back (iac.allowlist.baseline.current_rules) as the real one is.
    main = f"""terraform {{
  required_version = ">= 1.5.0"
}}

locals {{
  project_id = {hcl.string(config.project)}
  name       = {hcl.string(config.name)}{mark}
  allowlist = {{
    rules = {rules}
  }}
  ranges = {ranges}
}}

resource "terraform_data" "edge_policy" {{
  input = local.ranges
}}

resource "terraform_data" "backend_policy" {{
  input = local.ranges
}}

resource "terraform_data" "url_map" {{
  input = {hcl.string(config.name + "-url-map")}
}}

output "allowlist_ranges" {{
  value = local.ranges
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
    return FakeRendered(
        files={"main.tf": main.encode()}, resources=3, ranges=len(loaded.allowlist.ranges), assignment=assignment
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
    loaded: LoadedConfig, current: Sequence[Rule] | None = None, *, repack: bool = False, provisional: bool = False
) -> FakeRendered:
    """`render_builtin` and the HMAC key's stand-ins (`hmac_key_standins`)."""
    rendered = render_builtin(loaded, current, repack=repack, provisional=provisional)
    main = rendered.files["main.tf"] + hmac_key_standins(loaded.config).encode()
    return dataclasses.replace(rendered, files={"main.tf": main}, resources=rendered.resources + 4)
