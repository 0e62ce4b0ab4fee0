"""The flows that change a deployment: render then plan and apply in one workspace, rotate after a config edit,
invalidate the CDN cache, and write the providers' lock file (`iac lock`).

Above every core package (files, config, gcp, allowlist, terraform); only `iac.cli` imports it.
"""
