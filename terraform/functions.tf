# The three Cloud Functions (gen2) of functions/main.py and their shared source archive.

locals {
  # The two Cloud Functions of functions/main.py. They share one source archive and differ
  # in entry point, sizing and, below, in service account and roles. The third entry point,
  # upload, runs on Cloud Run with HTTP/2 end to end (upload.tf): Cloud Functions refuse
  # requests over 32 MiB, and twine and uv send each distribution in one request.
  # Concurrency above 1 needs a whole CPU.
  functions = {
    simple = {
      entry_point     = "simple"
      memory          = "512Mi"
      cpu             = "1"
      concurrency     = 40
      timeout_seconds = 60
      # An upstream file is copied through /tmp (memory on Cloud Functions) within the
      # request's 60 s: bound both below what the function has (docs/deploy.md, Limits).
      env = {
        BALE_SIGNED_URL_MIN_BYTES    = tostring(var.signed_url_min_bytes)
        BALE_TOKEN_CACHE_SECONDS     = tostring(var.token_cache_seconds)
        BALE_UPSTREAM_MAX_FILE_BYTES = tostring(200 * 1024 * 1024)
        BALE_UPSTREAM_FILE_TIMEOUT   = "50"
      }
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

  # One service account per serving unit (iam.tf grants each only what it needs).
  service_accounts = {
    upload = "upload"
    simple = "simple"
    oidc   = "oidc"
  }
}

# The functions' container images, built by Cloud Build from the source archive below.
resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Images built from this repository's public source; they hold no secret or customer data (secrets come from Secret Manager at run time). Google-managed encryption at rest applies; a KMS key would add an undeletable key ring and service-agent grants for no gain.
  location      = var.region
  repository_id = "bale-functions"
  format        = "DOCKER"
  description   = "Bale function images (built by Cloud Functions)"

  depends_on = [google_project_service.apis]
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
    # Our own repository, so the build's write access can be granted on it alone (iam.tf).
    docker_repository = google_artifact_registry_repository.functions.id

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
    google_artifact_registry_repository_iam_member.build_images,
    google_project_iam_member.build_function_sources,
    google_project_iam_member.build_logs,
    google_project_service.apis,
    google_storage_bucket_iam_member.build_source,
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
