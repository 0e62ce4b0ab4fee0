# Remote state of the allow rules alone (no key, no secret), beside the serving state in the same bucket.

terraform {
  backend "gcs" {
    bucket = "acme-tfstate"
    prefix = "encord-da/allowlist"
  }
}
