# Shared locals: bucket facts and the Cloud Armor rule set used by both policies.

locals {
  bucket_name     = var.bucket.create ? google_storage_bucket.bucket[0].name : data.google_storage_bucket.bucket[0].name
  bucket_location = var.bucket.create ? google_storage_bucket.bucket[0].location : data.google_storage_bucket.bucket[0].location
  origin_fqdn     = "${local.bucket_name}.storage.googleapis.com"
  # GCS accepts the bucket's location as the signing region; an override covers other needs.
  origin_region = var.origin_region != null ? var.origin_region : lower(local.bucket_location)

  # Cloud Armor takes at most 10 ranges per SRC_IPS_V1 rule.
  allowlist_chunks = chunklist(var.allowlist.ranges, 10)
  allow_rules = {
    for i, chunk in local.allowlist_chunks : format("allow-%04d", i) => {
      action      = "allow"
      priority    = var.allowlist.priority + i
      ranges      = chunk
      description = "Allowlist ranges ${i * 10 + 1}-${i * 10 + length(chunk)} of ${length(var.allowlist.ranges)}"
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
