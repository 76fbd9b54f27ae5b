# Alerts on what clients see at the load balancer: the share of 5xx and of 503 answers, and
# the latency of the read paths. Bale answers 503 with Retry-After when Firestore or Cloud
# Storage misses a request's deadline (about 5 s for a read, 15 s for a commit), so a rising
# 503 ratio is a backend incident and a rising 5xx ratio without it is a bug (docs/deploy.md).

locals {
  lb_requests = "resource.type = \"https_lb_rule\" AND resource.labels.url_map_name = \"${google_compute_url_map.https.name}\" AND metric.type = \"loadbalancing.googleapis.com/https/request_count\""
  # The read paths: the simple function's backend (pages, metadata, files). Uploads are left
  # out of the latency alerts because their latency is the client's upload time.
  lb_read_latency = "resource.type = \"https_lb_rule\" AND resource.labels.backend_target_name = \"${google_compute_backend_service.function["simple"].name}\" AND metric.type = \"loadbalancing.googleapis.com/https/total_latencies\""

  ratio_alerts = {
    "5xx" = { filter = "metric.labels.response_code_class = 500", threshold = var.alert_5xx_ratio }
    "503" = { filter = "metric.labels.response_code = 503", threshold = var.alert_503_ratio }
  }
  latency_alerts = {
    p95 = { reducer = "REDUCE_PERCENTILE_95", threshold = var.alert_p95_latency_ms }
    p99 = { reducer = "REDUCE_PERCENTILE_99", threshold = var.alert_p99_latency_ms }
  }

  notification_channels = concat(google_monitoring_notification_channel.email[*].id, var.alert_notification_channels)
}

resource "google_monitoring_notification_channel" "email" {
  count = var.alert_email != "" ? 1 : 0

  display_name = "Bale alerts"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "ratio" {
  for_each = local.ratio_alerts

  display_name          = "Bale: ${each.key} answers above ${each.value.threshold * 100}% of requests"
  combiner              = "OR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "${each.key} / all requests at the load balancer, 5 minutes"
    condition_threshold {
      filter             = "${local.lb_requests} AND ${each.value.filter}"
      denominator_filter = local.lb_requests
      comparison         = "COMPARISON_GT"
      threshold_value    = each.value.threshold
      duration           = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A high 503 share means Firestore or Cloud Storage is missing its deadlines: check their status pages and the functions' logs for deadline errors. 5xx without 503 is a bug: read the functions' error logs. docs/deploy.md, \"During a Firestore or Storage incident\"."
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "latency" {
  for_each = local.latency_alerts

  display_name          = "Bale: ${each.key} latency of the read paths above ${each.value.threshold} ms"
  combiner              = "OR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "${each.key} of total latency, /simple and /files, 10 minutes"
    condition_threshold {
      filter          = local.lb_read_latency
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.threshold
      duration        = "600s"
      aggregations {
        alignment_period = "300s"
        # Each series' latency distribution for the period, merged across series, then its
        # percentile: the percentile of all requests, not an average of per-series ones.
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = each.value.reducer
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Reads are slower than usual: a slow Firestore or Cloud Storage (reads give up after about 5 s with a 503), cold starts under a burst (raise function_min_instances), or instances at function_max_instances. docs/deploy.md, \"Alerts\"."
  }

  depends_on = [google_project_service.apis]
}
