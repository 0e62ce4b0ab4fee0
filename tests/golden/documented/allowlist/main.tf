# Encord Direct Access: the Cloud Armor allow rules of the deployment's edge and backend policies.
# This root module holds nothing but these rules (its state neither: no key, no secret); the policies
# themselves, with their default deny rule, are in ../serving. Rendered by iac: change the config file
# and render again rather than editing this file.

provider "google" {
  project = "my-gcp-project"
}

module "allowlist" {
  source = "./modules/gcp-direct-access-allowlist"

  project_id = "my-gcp-project"
  name       = "encord-da"

  # The same rules in the edge and the backend policy, at most 10 ranges each. A range keeps its rule
  # when the allowlist changes, so a rotation updates only the rules it must.
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
