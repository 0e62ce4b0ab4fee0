# Cloud Armor allowlist, as an edge policy (cache hits) and a backend policy (origin fetches).
#
# A policy holds its default rule only: deny everything, in force from the policy's first second. The allow
# rules are separate resources of the allowlist root module, with their own state (see the module README):
# this policy ignores them, so applying it never removes one and a rotation never touches this state.

resource "google_compute_security_policy" "default" {
  for_each = local.security_policies
  # checkov:skip=CKV_GCP_73:Edge policies cannot hold preconfigured WAF expressions, and on this default-deny IP allowlist a Log4j rule would only inspect allowlisted, trusted sources.
  project     = var.project_id
  name        = "${var.name}-${each.key}-policy"
  description = "IP allowlist for ${var.domain} (${each.key})"
  type        = each.value

  rule {
    action      = "deny(403)"
    priority    = 2147483647
    description = "Default rule: deny everything not allowlisted"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }

  lifecycle {
    # The allow rules belong to the allowlist root module (google_compute_security_policy_rule).
    ignore_changes = [rule]
  }
}
