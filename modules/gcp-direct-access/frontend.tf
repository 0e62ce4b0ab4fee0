# Load balancer frontend: address, certificate, TLS policy, HTTPS and HTTP-redirect paths, DNS record.

resource "google_compute_global_address" "default" {
  project      = var.project_id
  name         = "${var.name}-ip"
  ip_version   = "IPV4"
  address_type = "EXTERNAL"
}

resource "google_compute_managed_ssl_certificate" "default" {
  project = var.project_id
  name    = "${var.name}-cert"
  managed {
    domains = [var.domain]
  }
}

resource "google_compute_ssl_policy" "default" {
  project         = var.project_id
  name            = "${var.name}-ssl-policy"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"
}

resource "google_compute_url_map" "default" {
  project         = var.project_id
  name            = "${var.name}-url-map"
  description     = "Serves ${var.domain} from the bucket backend"
  default_service = google_compute_backend_service.default.id
}

resource "google_compute_target_https_proxy" "default" {
  project          = var.project_id
  name             = "${var.name}-https-proxy"
  url_map          = google_compute_url_map.default.id
  ssl_certificates = [google_compute_managed_ssl_certificate.default.id]
  ssl_policy       = google_compute_ssl_policy.default.id
}

resource "google_compute_global_forwarding_rule" "https" {
  project               = var.project_id
  name                  = "${var.name}-https-rule"
  target                = google_compute_target_https_proxy.default.id
  ip_address            = google_compute_global_address.default.address
  ip_protocol           = "TCP"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  port_range            = "443"
}

resource "google_compute_url_map" "redirect" {
  project     = var.project_id
  name        = "${var.name}-redirect"
  description = "Redirects HTTP requests for ${var.domain} to HTTPS"
  default_url_redirect {
    https_redirect = true
    strip_query    = false
  }
}

resource "google_compute_target_http_proxy" "redirect" {
  project = var.project_id
  name    = "${var.name}-http-proxy"
  url_map = google_compute_url_map.redirect.id
}

resource "google_compute_global_forwarding_rule" "http" {
  project               = var.project_id
  name                  = "${var.name}-http-rule"
  target                = google_compute_target_http_proxy.redirect.id
  ip_address            = google_compute_global_address.default.address
  ip_protocol           = "TCP"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  port_range            = "80"
}

resource "google_dns_record_set" "default" {
  count        = var.dns_zone != null ? 1 : 0
  project      = var.project_id
  managed_zone = var.dns_zone
  name         = "${var.domain}."
  type         = "A"
  ttl          = 300
  rrdatas      = [google_compute_global_address.default.address]
}
