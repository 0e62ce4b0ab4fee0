# Remote state. It holds the HMAC secret: keep the bucket private, versioned and access-logged, and give the
# pull-request pipeline no access to this prefix.

terraform {
  backend "gcs" {
    bucket = "acme-tfstate"
    prefix = "encord-da"
  }
}
