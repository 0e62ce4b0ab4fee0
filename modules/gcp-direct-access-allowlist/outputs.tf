# Module outputs, in alphabetical order.

output "allowlist_ranges" {
  description = "Allowlisted source ranges, in rule order. iac compares them across a plan to decide on a CDN cache invalidation."
  value       = flatten([for rule in var.allowlist.rules : rule.ranges])
}

output "allowlist_rule_count" {
  description = "Number of allow rules in each Cloud Armor policy (at most 10 ranges each), not counting the default deny rule."
  value       = length(var.allowlist.rules)
}

output "edge_security_policy_name" {
  description = "Name of the CLOUD_ARMOR_EDGE policy the rules are in."
  value       = local.policies["edge"]
}

output "security_policy_name" {
  description = "Name of the CLOUD_ARMOR backend policy the rules are in."
  value       = local.policies["backend"]
}
