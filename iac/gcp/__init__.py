"""Google Cloud, behind small modules: credentials and Google's error text, the bucket's storage API, CDN cache
invalidation, the names of the resources a deployment creates, and the requests Cloud Armor denied (Cloud
Logging, `iac allowlist denied`).

Google's client libraries are imported inside the functions that use them. Imports the foundations,
`iac.files`, `iac.allowlist` and `iac.config`.
"""
