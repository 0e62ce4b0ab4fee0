# Module variables, in alphabetical order.

variable "allowlist" {
  description = "Cloud Armor allow rules, each a priority and at most 10 source ranges (CIDR, IPv4 or IPv6), held by both policies of the deployment. Keep a range in the same rule across changes: a range moved between rules can be denied while the rules are updated one by one. No rules denies every request."
  type = object({
    rules = list(object({
      priority = number
      ranges   = list(string)
    }))
  })
  nullable = false
  validation {
    condition = alltrue([
      for rule in var.allowlist.rules : length(rule.ranges) >= 1 && length(rule.ranges) <= 10
    ])
    error_message = "Give every rule in allowlist.rules 1 to 10 ranges: Cloud Armor takes at most 10 source ranges per rule."
  }
  validation {
    condition = alltrue(flatten([
      for rule in var.allowlist.rules : [for r in rule.ranges : can(cidrhost(r, 0))]
    ]))
    error_message = "Write every range in allowlist.rules in CIDR notation, e.g. \"39.42.20.11/32\" or \"2a00:1450:4001::/48\"."
  }
  validation {
    condition = alltrue(flatten([
      for rule in var.allowlist.rules : [for r in rule.ranges : !contains(["0.0.0.0/0", "::/0", "*"], trimspace(r))]
    ]))
    error_message = "Remove \"0.0.0.0/0\", \"::/0\" and \"*\" from allowlist.rules: they open the bucket to the whole internet."
  }
  validation {
    condition = alltrue([
      for rule in var.allowlist.rules : floor(rule.priority) == rule.priority && rule.priority >= 0 && rule.priority <= 2147483646
    ])
    error_message = "Set each allowlist rule's priority to a whole number from 0 to 2147483646; 2147483647 is the default deny rule."
  }
  validation {
    condition     = length(distinct([for rule in var.allowlist.rules : rule.priority])) == length(var.allowlist.rules)
    error_message = "Give each rule in allowlist.rules its own priority: Cloud Armor refuses two rules with one priority."
  }
}

variable "name" {
  description = "The deployment's name, as given to the gcp-direct-access module: its policies are <name>-edge-policy and <name>-backend-policy."
  type        = string
  default     = "encord-da"
  nullable    = false
  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,20}[a-z0-9])?$", var.name))
    error_message = "Set name to 1-22 characters: lowercase letters, digits and '-', starting with a letter and not ending with '-'."
  }
}

variable "project_id" {
  description = "ID of the Google Cloud project holding every resource."
  type        = string
  nullable    = false
}
