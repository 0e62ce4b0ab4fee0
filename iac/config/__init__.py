"""The config file `iac.yaml`: its text and the YAML document read with line numbers, the checker that
validates it in iac's own words, its models and the checks of single values, the cors: section with the CORS
rule it implies (used by both the Terraform rendering and `iac cors`, which never import each other), loading
with every problem at its line, and its JSON Schema for editors.

Imports the foundations, `iac.files` (bounded reading, atomic writes) and `iac.allowlist` (an allowlist entry
is parsed as a range); nothing else of iac.
"""
