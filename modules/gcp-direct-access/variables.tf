# Module variables, in alphabetical order.

variable "bucket" {
  description = "Cloud Storage bucket served through the load balancer: created by the module when create is true, otherwise an existing bucket read by name."
  type = object({
    name          = string
    create        = optional(bool, true)
    location      = optional(string)
    force_destroy = optional(bool, false)
    storage_class = optional(string, "STANDARD")
    versioning    = optional(bool, false)
  })
  nullable = false
  validation {
    condition     = !var.bucket.create || try(length(var.bucket.location) > 0, false)
    error_message = "Set bucket.location (e.g. \"EU\", \"europe-west1\") when bucket.create is true, or set bucket.create = false to use an existing bucket."
  }
  validation {
    condition = (
      can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", var.bucket.name)) &&
      !startswith(var.bucket.name, "goog") &&
      !strcontains(var.bucket.name, "google")
    )
    error_message = "Use a valid bucket.name: 3-222 characters, lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit, not starting with \"goog\" nor containing \"google\"."
  }
  validation {
    condition     = contains(["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"], var.bucket.storage_class)
    error_message = "Set bucket.storage_class to STANDARD, NEARLINE, COLDLINE or ARCHIVE; legacy classes such as MULTI_REGIONAL are not accepted."
  }
}

variable "cdn" {
  description = "Cloud CDN TTLs in seconds: default_ttl for cached objects, client_ttl sent to clients."
  type = object({
    client_ttl  = optional(number, 3600)
    default_ttl = optional(number, 3600)
  })
  default  = {}
  nullable = false
  validation {
    condition = alltrue([
      for ttl in [var.cdn.client_ttl, var.cdn.default_ttl] : ttl >= 0 && ttl <= 31622400 && floor(ttl) == ttl
    ])
    error_message = "Set cdn.client_ttl and cdn.default_ttl to whole numbers of seconds between 0 and 31622400 (one year)."
  }
}

variable "cors" {
  description = "CORS rule of the bucket when the module creates it, so Encord's web app can read the files; null sets none. An existing bucket's CORS is managed with `iac cors apply`."
  type = object({
    origins          = list(string)
    methods          = list(string)
    response_headers = optional(list(string), [])
    max_age          = optional(number, 3600)
  })
  default = null
  validation {
    condition     = var.cors == null || alltrue([for o in try(var.cors.origins, []) : !strcontains(o, "*")])
    error_message = "List each origin in cors.origins (e.g. \"https://app.encord.com\"); wildcard origins are not accepted."
  }
}

variable "dns_zone" {
  description = "Name of the Cloud DNS managed zone (e.g. \"acme-com\") in which to create the A record for domain; null creates no DNS record."
  type        = string
  default     = null
  validation {
    condition     = var.dns_zone == null || can(regex("^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", var.dns_zone))
    error_message = "Set dns_zone to the managed zone's name (e.g. \"acme-com\"), not its DNS name (e.g. \"acme.com.\"), or leave it null to manage DNS yourself."
  }
}

variable "domain" {
  description = "Fully qualified domain name served by the load balancer (e.g. \"data.acme.com\"); the managed certificate is issued for it."
  type        = string
  nullable    = false
  validation {
    condition = (
      length(var.domain) <= 253 &&
      can(regex("^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", var.domain))
    )
    error_message = "Set domain to a lowercase fully qualified host name such as \"data.acme.com\", without scheme, path or trailing dot."
  }
}

variable "hmac_key" {
  description = "The HMAC key the load balancer signs bucket requests with. Raising generation by one replaces it, make-before-break: the new key is created and in use by the backend service before the old one is deleted."
  type = object({
    generation = optional(number, 1)
  })
  default  = {}
  nullable = false
  validation {
    condition     = var.hmac_key.generation >= 1 && floor(var.hmac_key.generation) == var.hmac_key.generation
    error_message = "Set hmac_key.generation to a whole number from 1, and raise it by one to replace the HMAC key."
  }
}

variable "name" {
  description = "Prefix of every resource name; use a different one for each deployment in the same project."
  type        = string
  default     = "encord-da"
  nullable    = false
  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,20}[a-z0-9])?$", var.name))
    error_message = "Set name to 1-22 characters: lowercase letters, digits and '-', starting with a letter and not ending with '-'."
  }
}

variable "origin_region" {
  description = "Region used to sign requests to the bucket (AWS V4 signature); null uses the bucket's location in lower case."
  type        = string
  default     = null
}

variable "project_id" {
  description = "ID of the Google Cloud project holding every resource."
  type        = string
  nullable    = false
}
