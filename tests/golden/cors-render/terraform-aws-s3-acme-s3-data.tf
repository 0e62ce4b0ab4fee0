# CORS of an S3 bucket for Encord's web app, for those who manage the bucket with Terraform
# (hashicorp/aws). This resource owns the bucket's whole CORS configuration: add other apps' rules here
# too, or use `iac cors apply`, which keeps them. The provider configuration below reaches the bucket's
# region; use your own instead (`provider = aws.<alias>`) if you have one for that region.

provider "aws" {
  alias  = "encord_acme_s3_data"
  region = "eu-west-2"
}

resource "aws_s3_bucket_cors_configuration" "encord_acme_s3_data" {
  provider = aws.encord_acme_s3_data
  bucket   = "acme-s3-data"

  cors_rule {
    id = "iac-encord-direct-access"
    allowed_headers = [
      "*",
    ]
    allowed_methods = [
      "GET",
      "HEAD",
    ]
    allowed_origins = [
      "https://app.encord.com",
      "https://api.encord.com",
      "https://app.us.encord.com",
      "https://api.us.encord.com",
    ]
    expose_headers = [
      "Content-Length",
      "Content-Range",
      "Content-Type",
      "ETag",
    ]
    max_age_seconds = 3600
  }
}
