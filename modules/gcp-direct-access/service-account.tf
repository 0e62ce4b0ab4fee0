# Service account reading the bucket's objects and the HMAC key the load balancer signs with.

# Replaced create-before-destroy like the key that depends on it (Terraform's rule): a replacement has a new
# account_id (a new name), so the two accounts never collide.
resource "google_service_account" "reader" {
  project      = var.project_id
  account_id   = "${var.name}-reader"
  display_name = "${var.name} bucket reader"
  description  = "Reads objects of ${var.bucket.name} for the ${var.name} load balancer (HMAC key)."
}

resource "google_storage_bucket_iam_member" "reader" {
  bucket = local.bucket_name
  # Object read only: no listing, no bucket metadata.
  role   = "roles/storage.legacyObjectReader"
  member = "serviceAccount:${google_service_account.reader.email}"
}

# The key's generation (hmac_key.generation in iac's config): a new generation replaces the key below.
resource "terraform_data" "hmac_key_generation" {
  input = var.hmac_key.generation
}

resource "google_storage_hmac_key" "reader" {
  project               = var.project_id
  service_account_email = google_service_account.reader.email

  lifecycle {
    # Make before break, so no request is signed with a deleted key: new key, backend service switched, old key deleted.
    create_before_destroy = true
    replace_triggered_by  = [terraform_data.hmac_key_generation]
  }
}
