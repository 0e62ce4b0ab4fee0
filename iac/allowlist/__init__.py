"""The IP allowlist: ranges and their parsing, their assignment to Cloud Armor rules, and the baseline a change
is compared with (the rules read back from iac's own rendering).

Pure: imports the foundations and `iac.files` only, so the config, the rendering and the edits all build on it.
"""
