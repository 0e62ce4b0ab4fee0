# What the pipeline and the Encord registration files need; the HMAC secret is never an output.

output "bucket_name" {
  description = "Bucket served through the load balancer."
  value       = module.direct_access.bucket_name
}

output "domain" {
  description = "Domain for objectUrl in the Encord registration files: https://<domain>/<object name>."
  value       = module.direct_access.domain
}

output "edge_security_policy_name" {
  description = "Cloud Armor edge policy checked before the CDN cache."
  value       = module.direct_access.edge_security_policy_name
}

output "ip_address" {
  description = "External IPv4 address of the load balancer."
  value       = module.direct_access.ip_address
}

output "project_id" {
  description = "Project holding every resource."
  value       = "my-gcp-project"
}

output "security_policy_name" {
  description = "Cloud Armor backend policy checked before requests reach the bucket."
  value       = module.direct_access.security_policy_name
}

output "url_map_name" {
  description = "URL map whose CDN cache is invalidated after allowlist changes."
  value       = module.direct_access.url_map_name
}
