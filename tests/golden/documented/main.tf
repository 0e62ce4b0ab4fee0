# Encord Direct Access: a private Cloud Storage bucket behind Cloud CDN, readable only from the allowlist.
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

  # Cloud Armor allow rules, the same in the edge and the backend policy, at most 10 ranges each. A range
  # keeps its rule when the allowlist changes, so a rotation updates only the rules it must.
  allowlist = {
    rules = [
      {
        priority = 1000
        ranges = [
          "39.42.20.11/32",    # Lisbon office
          "130.192.120.23/32", # Porto NAT A
        ]
      },
    ]
  }
}
