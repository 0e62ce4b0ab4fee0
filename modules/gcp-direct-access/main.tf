# Shared locals: bucket facts and the two Cloud Armor policies.

locals {
  bucket_name     = var.bucket.create ? google_storage_bucket.bucket[0].name : data.google_storage_bucket.bucket[0].name
  bucket_location = var.bucket.create ? google_storage_bucket.bucket[0].location : data.google_storage_bucket.bucket[0].location
  origin_fqdn     = "${local.bucket_name}.storage.googleapis.com"
  # GCS accepts the bucket's location as the signing region; an override covers other needs.
  origin_region = var.origin_region != null ? var.origin_region : lower(local.bucket_location)

  # The edge policy filters cache hits, the backend policy filters requests reaching the origin.
  security_policies = {
    edge    = "CLOUD_ARMOR_EDGE"
    backend = "CLOUD_ARMOR"
  }
}
