# The daily refresh of the public advisories (OSV's PyPI export; docs/advisories.md): a Cloud
# Function that no URL map routes to, called by Cloud Scheduler with a Google ID token of a
# service account that may invoke this function and nothing else. docs/deploy.md says why a
# function (not a Cloud Run job) and what is left unverified.

locals {
  advisories_refresh = {
    # The export (tens of MB, capped by BALE_ADVISORIES_MAX_BYTES) is written to /tmp, which
    # is memory on Cloud Functions, and read one record at a time (benchmarks/advisories.py
    # measures the peak): both fit well under this.
    memory = "1Gi"
    cpu    = "1"
    # Cloud Scheduler waits at most 30 minutes for an HTTP target: the function may not
    # outlive the attempt, or a retry would start while the first run still writes.
    timeout_seconds = 1800
    env = {
      BALE_ADVISORIES_URL       = var.advisories_url
      BALE_ADVISORIES_MAX_BYTES = tostring(256 * 1024 * 1024)
      BALE_ADVISORIES_TIMEOUT   = "600"
      BALE_ADVISORIES_INVOKER   = google_service_account.scheduler.email
    }
  }
}

# Cloud Scheduler's identity for the call: it may invoke the refresh function (below) and
# holds no other role.
resource "google_service_account" "scheduler" {
  account_id   = "bale-scheduler"
  display_name = "Bale scheduler (calls the advisories refresh)"

  depends_on = [google_project_service.apis]
}

resource "google_cloudfunctions2_function" "advisories_refresh" {
  name     = "bale-advisories-refresh"
  location = var.region

  build_config {
    runtime           = "python311"
    entry_point       = "advisories_refresh"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.functions_source.name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.function["advisories"].email
    available_memory      = local.advisories_refresh.memory
    available_cpu         = local.advisories_refresh.cpu
    # One run at a time, on one instance: two runs would race on the same summaries.
    max_instance_request_concurrency = 1
    min_instance_count               = 0
    max_instance_count               = 1
    timeout_seconds                  = local.advisories_refresh.timeout_seconds
    # Internal only: Cloud Scheduler in the same project counts as internal traffic, and
    # nothing else needs to reach it (no load balancer backend routes here).
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    environment_variables          = merge(local.common_env, local.advisories_refresh.env, var.extra_env)
  }

  depends_on = [
    google_artifact_registry_repository_iam_member.build_images,
    google_project_iam_member.build_function_sources,
    google_project_iam_member.build_logs,
    google_project_service.apis,
    google_storage_bucket_iam_member.build_source,
  ]
}

# The only invoker: never allUsers, and Cloud Run's invoker check stays on whatever
# public_invoker says (the function trusts the ID token Cloud Run verified; bale.access).
resource "google_cloud_run_v2_service_iam_member" "advisories_refresh_invoker" {
  location = var.region
  name     = google_cloudfunctions2_function.advisories_refresh.name
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

resource "google_cloud_scheduler_job" "advisories_refresh" {
  name        = "bale-advisories-refresh"
  description = "Reload OSV's PyPI advisories into Bale (bale.advisories.refresh)"
  region      = var.region
  schedule    = var.advisories_refresh_schedule
  time_zone   = "Etc/UTC"
  # The most Cloud Scheduler allows an HTTP target, and the function's own timeout.
  attempt_deadline = "${local.advisories_refresh.timeout_seconds}s"

  # A 5xx (download failed, export damaged: nothing was written) is retried, a few minutes
  # apart and then further, within the day; the next day's run starts over regardless.
  retry_config {
    retry_count          = 4
    min_backoff_duration = "300s"
    max_backoff_duration = "3600s"
    max_doublings        = 3
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.advisories_refresh.service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.advisories_refresh.service_config[0].uri
    }
  }

  depends_on = [
    google_project_service.apis,
    google_cloud_run_v2_service_iam_member.advisories_refresh_invoker,
  ]
}

# A run that loaded nothing logs one ERROR line (bale.advisories.refresh) and answers 5xx;
# Scheduler retries it, and until one succeeds the advisories grow stale. Notify on those lines,
# at most once an hour (`bale admin advisories status` shows the last load and the failure).
resource "google_monitoring_alert_policy" "advisories_refresh" {
  display_name          = "Bale: the advisories refresh failed"
  combiner              = "OR"
  notification_channels = local.notification_channels

  conditions {
    display_name = "an ERROR line of ${google_cloudfunctions2_function.advisories_refresh.name}"
    condition_matched_log {
      filter = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${google_cloudfunctions2_function.advisories_refresh.name}\" AND severity >= ERROR"
    }
  }

  alert_strategy {
    notification_rate_limit {
      period = "3600s"
    }
    auto_close = "86400s"
  }

  depends_on = [google_project_service.apis]
}
