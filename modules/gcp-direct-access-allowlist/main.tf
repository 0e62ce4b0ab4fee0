# The allow rules of a gcp-direct-access deployment's two Cloud Armor policies, one resource a rule and policy.
#
# The policies are found by name (derived from var.name as the gcp-direct-access module names them), not
# through that module's state: this module's state holds nothing but rules, and no secret.

locals {
  # The edge policy filters cache hits, the backend policy filters requests reaching the origin.
  policies = {
    edge    = "${var.name}-edge-policy"
    backend = "${var.name}-backend-policy"
  }

  # One rule a policy and priority, keyed "<policy>-<priority>". A rule's key and description depend on its
  # priority only, so a rule whose ranges did not change is not touched when the allowlist changes.
  rules = merge([
    for policy, policy_name in local.policies : {
      for rule in var.allowlist.rules : format("%s-%d", policy, rule.priority) => {
        policy   = policy_name
        priority = rule.priority
        ranges   = rule.ranges
      }
    }
  ]...)
}

resource "google_compute_security_policy_rule" "allow" {
  for_each = local.rules

  project         = var.project_id
  security_policy = each.value.policy
  priority        = each.value.priority
  action          = "allow"
  description     = "Allowlist rule ${each.value.priority}"

  match {
    versioned_expr = "SRC_IPS_V1"
    config {
      src_ip_ranges = each.value.ranges
    }
  }
}
