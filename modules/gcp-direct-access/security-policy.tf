# Cloud Armor allowlist, as an edge policy (cache hits) and a backend policy (origin fetches).

resource "google_compute_security_policy" "default" {
  for_each = local.security_policies
  # checkov:skip=CKV_GCP_73:Edge policies cannot hold preconfigured WAF expressions, and on this default-deny IP allowlist a Log4j rule would only inspect allowlisted, trusted sources.
  project     = var.project_id
  name        = "${var.name}-${each.key}-policy"
  description = "IP allowlist for ${var.domain} (${each.key})"
  type        = each.value

  dynamic "rule" {
    for_each = local.security_policy_rules
    content {
      action      = rule.value.action
      priority    = rule.value.priority
      description = rule.value.description
      match {
        versioned_expr = "SRC_IPS_V1"
        config {
          src_ip_ranges = rule.value.ranges
        }
      }
    }
  }
}
