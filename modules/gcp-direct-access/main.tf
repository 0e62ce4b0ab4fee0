# Shared locals: bucket facts and the Cloud Armor rule set used by both policies.

locals {
  bucket_name     = var.bucket.create ? google_storage_bucket.bucket[0].name : data.google_storage_bucket.bucket[0].name
  bucket_location = var.bucket.create ? google_storage_bucket.bucket[0].location : data.google_storage_bucket.bucket[0].location
  origin_fqdn     = "${local.bucket_name}.storage.googleapis.com"
  # GCS accepts the bucket's location as the signing region; an override covers other needs.
  origin_region = var.origin_region != null ? var.origin_region : lower(local.bucket_location)

  # The caller states every allow rule (at most 10 ranges each, a Cloud Armor limit) with its priority,
  # so a range keeps its rule across changes. Keys and descriptions depend on the priority only: a rule
  # whose ranges did not change is not touched.
  allow_rules = {
    for rule in var.allowlist.rules : format("allow-%d", rule.priority) => {
      action      = "allow"
      priority    = rule.priority
      ranges      = rule.ranges
      description = "Allowlist rule ${rule.priority}"
    }
  }
  security_policy_rules = merge(local.allow_rules, {
    default = {
      action      = "deny(403)"
      priority    = 2147483647
      ranges      = ["*"]
      description = "Default rule: deny everything not allowlisted"
    }
  })
  # The edge policy filters cache hits, the backend policy filters requests reaching the origin.
  security_policies = {
    edge    = "CLOUD_ARMOR_EDGE"
    backend = "CLOUD_ARMOR"
  }
}
