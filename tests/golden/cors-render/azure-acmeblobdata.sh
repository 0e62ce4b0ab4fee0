#!/bin/sh
# CORS of the Blob service of storage account acmeblobdata, for Encord's web app. Replaces every CORS rule
# of the account (other apps' too: `iac cors apply` keeps them); running it again changes nothing.
# az takes the account key from AZURE_STORAGE_KEY or AZURE_STORAGE_CONNECTION_STRING, or looks it up
# after `az login`.
set -eu
az storage cors clear --account-name acmeblobdata --services b
az storage cors add --account-name acmeblobdata --services b --methods GET HEAD --origins https://app.encord.com https://api.encord.com https://app.us.encord.com https://api.us.encord.com --allowed-headers '*' --exposed-headers Content-Length Content-Range Content-Type ETag --max-age 3600
