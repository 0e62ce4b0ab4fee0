"""Encord registration files: the upload JSON/CSV that points Encord at the Direct Access data.

Imports the foundations, `iac.files`, `iac.config` and `iac.gcp`; Encord's SDK only inside the functions that
call it."""
