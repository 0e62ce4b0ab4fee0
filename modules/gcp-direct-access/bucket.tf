# Private Cloud Storage bucket holding the data, created or read.

resource "google_storage_bucket" "bucket" {
  count = var.bucket.create ? 1 : 0
  # checkov:skip=CKV_GCP_62:Access logging needs a separate log bucket; the load balancer already logs every request, bucket logging is the customer's choice.
  # checkov:skip=CKV_GCP_78:Versioning is the module caller's choice (the variable var.bucket.versioning, off by default; iac leaves it off): the load balancer only reads objects, which are usually copies of data kept elsewhere.
  project                     = var.project_id
  name                        = var.bucket.name
  location                    = var.bucket.location
  storage_class               = var.bucket.storage_class
  force_destroy               = var.bucket.force_destroy
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  versioning {
    enabled = var.bucket.versioning
  }

  dynamic "cors" {
    for_each = var.cors == null ? [] : [var.cors]
    content {
      origin          = cors.value.origins
      method          = cors.value.methods
      response_header = cors.value.response_headers
      max_age_seconds = cors.value.max_age
    }
  }
}

data "google_storage_bucket" "bucket" {
  count   = var.bucket.create ? 0 : 1
  project = var.project_id
  name    = var.bucket.name
}
