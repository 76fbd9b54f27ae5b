# An optional Cloud Armor policy on every backend (variable cloud_armor): a per-client-IP rate
# limit on the read paths, so one runaway client cannot eat the functions' instances and the
# Firestore budget of everyone else. Uploads and the dashboard are not limited here (uploads
# are few and large; the dashboard signs people in through Firebase, which limits itself).

locals {
  security_policy = var.cloud_armor ? google_compute_security_policy.bale[0].id : null
}

resource "google_compute_security_policy" "bale" {
  #checkov:skip=CKV_GCP_73:The Log4j rule inspects request bodies for JNDI lookups in Java servers; Bale runs no Java, and the preconfigured WAF rules would also inspect package uploads.
  count = var.cloud_armor ? 1 : 0

  name        = "bale"
  description = "Bale: per-IP rate limit on /simple and /files"
  type        = "CLOUD_ARMOR"

  rule {
    action      = "throttle"
    priority    = 1000
    description = "Reads: cloud_armor_reads_per_minute per client IP, then 429 until the minute is over"

    match {
      expr {
        expression = "request.path.startsWith('/simple') || request.path.startsWith('/files/')"
      }
    }

    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"

      rate_limit_threshold {
        count        = var.cloud_armor_reads_per_minute
        interval_sec = 60
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "Everything else"

    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }

  depends_on = [google_project_service.apis]
}
