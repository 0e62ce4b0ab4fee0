"""CORS for the buckets Encord's web app reads from: one policy, each provider's native form.

Imports the foundations, `iac.config` (the CORS rule), `iac.gcp` and the templates and HCL escaping of
`iac.terraform`, never its rendering of the root module (`iac.terraform.render`)."""
