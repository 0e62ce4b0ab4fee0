"""The config file `iac.yaml`: its models, the YAML document read with line numbers, the checker that validates
it in iac's own words, its JSON Schema for editors, and the CORS rule it describes (used by both the Terraform
rendering and `iac cors`, which never import each other).

Imports the foundations, `iac.files` (bounded reading, atomic writes) and `iac.allowlist` (an allowlist entry
is parsed as a range); nothing else of iac.
"""
