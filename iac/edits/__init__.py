"""The edits iac makes to a config file in place, under its lock, keeping its comments and layout: the allowlist
(`iac allowlist add/remove/set`) and the HMAC key generation (`iac hmac rotate`).

Imports the foundations, `iac.files`, `iac.allowlist` (rule changes against the baseline) and `iac.config`
(the YAML document and its check); a flow that applies an edit (`iac.deploy`) sits above.
"""
