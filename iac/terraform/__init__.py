"""Terraform: the configuration iac renders (templates, the one HCL escaping path, the two root modules and
their layout), the one runner of the terraform binary, reading its plan and state, the plan summary, and the
extra files a deployment declares.

Imports the foundations, `iac.files`, `iac.allowlist`, `iac.config` and `iac.gcp`.
"""
