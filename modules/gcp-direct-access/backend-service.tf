# Internet NEG pointing at the bucket and the CDN-enabled backend service signing requests to it.

resource "google_compute_global_network_endpoint_group" "default" {
  project               = var.project_id
  name                  = "${var.name}-neg"
  network_endpoint_type = "INTERNET_FQDN_PORT"
  default_port          = 443
}

resource "google_compute_global_network_endpoint" "default" {
  project                       = var.project_id
  global_network_endpoint_group = google_compute_global_network_endpoint_group.default.id
  fqdn                          = local.origin_fqdn
  port                          = 443
}

resource "google_compute_backend_service" "default" {
  project               = var.project_id
  name                  = "${var.name}-backend"
  description           = "Private bucket ${local.bucket_name} behind Cloud CDN"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  enable_cdn            = true
  compression_mode      = "AUTOMATIC"
  edge_security_policy  = google_compute_security_policy.default["edge"].id
  security_policy       = google_compute_security_policy.default["backend"].id
  custom_request_headers = [
    "Host:${local.origin_fqdn}",
    # Client cookies would be part of the signed request and break the HMAC signature.
    "Cookie:",
  ]
  custom_response_headers = ["X-Cache-Hit:{cdn_cache_status}"]

  backend {
    group = google_compute_global_network_endpoint_group.default.id
  }

  cdn_policy {
    # max_ttl is not allowed with FORCE_CACHE_ALL.
    cache_mode       = "FORCE_CACHE_ALL"
    default_ttl      = var.cdn.default_ttl
    client_ttl       = var.cdn.client_ttl
    negative_caching = false
    cache_key_policy {
      include_host         = true
      include_query_string = true
    }
  }

  log_config {
    enable      = true
    sample_rate = 1
  }

  security_settings {
    aws_v4_authentication {
      access_key_id = google_storage_hmac_key.reader.access_id
      access_key    = google_storage_hmac_key.reader.secret
      origin_region = local.origin_region
    }
  }

  # The endpoint must exist before the backend service sends traffic to the NEG.
  depends_on = [google_compute_global_network_endpoint.default]
}
