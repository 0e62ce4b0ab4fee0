# Service account reading the bucket's objects and the HMAC key the load balancer signs with.

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

resource "google_storage_hmac_key" "reader" {
  project               = var.project_id
  service_account_email = google_service_account.reader.email
}
