# Encord Direct Access: a private Cloud Storage bucket behind Cloud CDN, readable only from the allowlist.
# This root module serves the bucket; the allow rules are in ../allowlist, a root module with its own state.
# Rendered by iac: change the config file and render again rather than editing this file.

provider "google" {
  project = "my-gcp-project"
}

module "direct_access" {
  source = "./modules/gcp-direct-access"

  project_id    = "my-gcp-project"
  name          = "encord-da"
  domain        = "encord-directaccess.acme.com"
  dns_zone      = "acme-com"
  origin_region = null

  bucket = {
    name     = "encord-data"
    create   = true
    location = "EU"
  }

  cdn = {
    default_ttl = 3600
    client_ttl  = 3600
  }

  cors = {
    origins = [
      "https://app.encord.com",
      "https://api.encord.com",
      "https://app.us.encord.com",
      "https://api.us.encord.com",
    ]
    methods = [
      "GET",
      "HEAD",
    ]
    response_headers = [
      "Content-Length",
      "Content-Range",
      "Content-Type",
      "ETag",
    ]
    max_age = 3600
  }

  # A new generation replaces the HMAC key: the new key in use before the old one is deleted.
  hmac_key = {
    generation = 1
  }
}
