# What `iac apply` needs to invalidate the CDN cache after the rules change, from the config alone.

output "allowlist_ranges" {
  description = "Allowlisted source ranges; when they change, iac apply invalidates the CDN cache."
  value       = module.allowlist.allowlist_ranges
}

output "domain" {
  description = "Domain whose cached objects are invalidated."
  value       = "encord-directaccess.acme.com"
}

output "edge_security_policy_name" {
  description = "Cloud Armor edge policy checked before the CDN cache."
  value       = module.allowlist.edge_security_policy_name
}

output "project_id" {
  description = "Project holding the policies and the URL map."
  value       = "my-gcp-project"
}

output "security_policy_name" {
  description = "Cloud Armor backend policy checked before requests reach the bucket."
  value       = module.allowlist.security_policy_name
}

output "url_map_name" {
  description = "URL map whose CDN cache is invalidated after allowlist changes."
  value       = "encord-da-url-map"
}
