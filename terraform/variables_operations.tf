# Variables of running Bale in production: who may invoke the services, request logs, Cloud
# Armor, image retention and alerting (docs/deploy.md).

variable "public_invoker" {
  type        = bool
  description = "true: grant roles/run.invoker to allUsers on the functions and Cloud Run services (Bale checks its own tokens). false, for organizations whose domain-restricted-sharing policy (iam.allowedPolicyMemberDomains) refuses allUsers: no allUsers binding anywhere; the invoker IAM check is switched off instead (invoker_iam_disabled), and ingress \"internal and Cloud Load Balancing\" keeps the load balancer the only way in."
  default     = true
}

variable "storage_usage_logs" {
  type        = bool
  description = "Let Cloud Storage deliver the buckets' hourly usage logs, by granting the Google group cloud-storage-analytics@google.com object creation on the access-log bucket. false where domain-restricted sharing refuses that group (the apply would fail on it): no grant, and no usage logs are delivered."
  default     = true
}

variable "lb_log_sample_rate" {
  type        = number
  description = "Fraction of requests the load balancer logs (0 to 1), with status, latency and backend: what the alerts and an incident review read."
  default     = 1

  validation {
    condition     = var.lb_log_sample_rate >= 0 && var.lb_log_sample_rate <= 1
    error_message = "lb_log_sample_rate must be between 0 and 1."
  }
}

variable "cloud_armor" {
  type        = bool
  description = "Attach a Cloud Armor security policy to every backend: a per-client-IP rate limit on the read paths (/simple/, /files/), answered 429. Off by default: Cloud Armor is billed per policy and per request."
  default     = false
}

variable "cloud_armor_reads_per_minute" {
  type        = number
  description = "Requests per minute one client IP may make to /simple/ and /files/ when cloud_armor is on. A cold `uv pip install` of a large environment makes a few hundred; CI runners behind one NAT address share the budget, so keep it generous."
  default     = 6000
}

variable "image_keep_count" {
  type        = number
  description = "Artifact Registry cleanup: the most recent versions of each image kept whatever their age (the ones serving and a few to roll back to)."
  default     = 10
}

variable "untagged_image_max_age_days" {
  type        = number
  description = "Artifact Registry cleanup: untagged images older than this many days are deleted (superseded builds), unless among the image_keep_count most recent."
  default     = 14
}

variable "alert_email" {
  type        = string
  description = "Email address the monitoring alerts go to (a notification channel is created for it). Empty: alerts open incidents in Cloud Monitoring without notifying anyone, unless alert_notification_channels names some."
  default     = ""
}

variable "alert_notification_channels" {
  type        = list(string)
  description = "IDs of existing notification channels (projects/P/notificationChannels/N: PagerDuty, Slack, ...) the alerts notify as well."
  default     = []
}

variable "alert_5xx_ratio" {
  type        = number
  description = "Alert when more than this fraction of the load balancer's requests answer 5xx over 5 minutes."
  default     = 0.01
}

variable "alert_503_ratio" {
  type        = number
  description = "Alert when more than this fraction of requests answer 503 over 5 minutes: Bale's answer when Firestore or Cloud Storage misses its deadline."
  default     = 0.005
}

variable "alert_p95_latency_ms" {
  type        = number
  description = "Alert when the 95th percentile of the load balancer's total latency of the read paths exceeds this many milliseconds over 10 minutes."
  default     = 2000
}

variable "alert_p99_latency_ms" {
  type        = number
  description = "Alert when the 99th percentile exceeds this many milliseconds over 10 minutes (a read gives up at its ~5 s deadline, so a p99 near it means a backend is failing)."
  default     = 5000
}

variable "advisories_url" {
  type        = string
  description = "Where the daily refresh downloads the public advisories: OSV's PyPI export (a zip of OSV JSON records), or a mirror of it (BALE_ADVISORIES_URL)."
  default     = "https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip"
}

variable "advisories_refresh_schedule" {
  type        = string
  description = "When Cloud Scheduler runs the advisories refresh, in cron syntax, UTC. Daily by default; a run finding the export unchanged (same ETag) costs one conditional request."
  default     = "17 4 * * *"
}
