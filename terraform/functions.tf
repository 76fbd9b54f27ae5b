# The three Cloud Functions (gen2) of functions/main.py and their shared source archive.

locals {
  # The three HTTP functions of functions/main.py. They share one source archive and
  # differ in entry point, sizing and, below, in service account and roles.
  # Concurrency above 1 needs a whole CPU; upload holds a request body (up to
  # max_upload_bytes) in memory while it checks the archive, so it takes fewer at once.
  functions = {
    upload = {
      entry_point     = "upload"
      memory          = "1Gi"
      cpu             = "1"
      concurrency     = 4
      timeout_seconds = 300
      env             = { BALE_MAX_UPLOAD_BYTES = tostring(var.max_upload_bytes) }
    }
    simple = {
      entry_point     = "simple"
      memory          = "512Mi"
      cpu             = "1"
      concurrency     = 40
      timeout_seconds = 60
      env             = {}
    }
    oidc = {
      entry_point     = "oidc"
      memory          = "256Mi"
      cpu             = "1"
      concurrency     = 10
      timeout_seconds = 30
      env             = {}
    }
  }
}

data "archive_file" "functions" {
  type        = "zip"
  source_dir  = "${path.module}/../functions"
  output_path = "${path.module}/build/functions.zip"
  excludes    = ["**/__pycache__/**", "**/*.pyc", ".pytest_cache/**"]
}

# Named by content, so a change to the code is a new object and every function
# picks it up (rebuilds and rolls to a new revision) on the next apply.
resource "google_storage_bucket_object" "functions_source" {
  name   = "functions-${data.archive_file.functions.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.functions.output_path
}

resource "google_cloudfunctions2_function" "function" {
  for_each = local.functions

  name     = "bale-${each.key}"
  location = var.region

  build_config {
    runtime         = "python311"
    entry_point     = each.value.entry_point
    service_account = google_service_account.build.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.functions_source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function[each.key].email
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    max_instance_request_concurrency = each.value.concurrency
    timeout_seconds                  = each.value.timeout_seconds
    min_instance_count               = var.function_min_instances
    max_instance_count               = var.function_max_instances
    # Only the load balancer (and the project's own network) may reach a function.
    ingress_settings               = "ALLOW_INTERNAL_AND_GCLB"
    all_traffic_on_latest_revision = true
    environment_variables          = merge(local.common_env, each.value.env, var.extra_env)
  }

  depends_on = [
    google_project_iam_member.build,
    google_project_service.apis,
  ]
}

# Bale does its own authentication (tokens in Basic or Bearer auth), so the platform
# lets every request through; ingress above keeps them coming via the load balancer.
resource "google_cloud_run_v2_service_iam_member" "function_public" {
  for_each = local.functions

  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
