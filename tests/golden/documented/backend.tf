# Remote state. The state holds the HMAC secret: keep this bucket private, versioned and access-logged.

terraform {
  backend "gcs" {
    bucket = "acme-tfstate"
    prefix = "encord-da"
  }
}
