# Module outputs, in alphabetical order; the HMAC secret is deliberately not exported.

output "backend_service_name" {
  description = "Name of the CDN-enabled backend service."
  value       = google_compute_backend_service.default.name
}

output "bucket_name" {
  description = "Name of the bucket served through the load balancer."
  value       = local.bucket_name
}

output "domain" {
  description = "Domain served by the load balancer; object URLs are https://<domain>/<object>."
  value       = var.domain
}

output "edge_security_policy_name" {
  description = "Name of the CLOUD_ARMOR_EDGE policy filtering requests before the CDN cache."
  value       = google_compute_security_policy.default["edge"].name
}

output "hmac_access_id" {
  description = "Access ID of the HMAC key the load balancer signs bucket requests with (the secret stays in state only)."
  value       = google_storage_hmac_key.reader.access_id
}

output "ip_address" {
  description = "External IPv4 address of the load balancer; point the domain's A record at it when dns_zone is null."
  value       = google_compute_global_address.default.address
}

output "security_policy_name" {
  description = "Name of the CLOUD_ARMOR backend policy filtering requests to the origin."
  value       = google_compute_security_policy.default["backend"].name
}

output "service_account_email" {
  description = "Email of the service account owning the HMAC key."
  value       = google_service_account.reader.email
}

output "url_map_name" {
  description = "Name of the HTTPS URL map, the target of CDN cache invalidations."
  value       = google_compute_url_map.default.name
}
