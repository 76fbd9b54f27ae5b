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

  # One service account per serving unit (iam.tf grants each only what it needs), and one for
  # the advisories refresh (advisories.tf).
  service_accounts = {
    upload     = "upload"
    simple     = "simple"
    oidc       = "oidc"
    advisories = "advisories"
  }
}

# The functions' container images, built by Cloud Build from the source archive below.
resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Images built from this repository's public source; they hold no secret or customer data (secrets come from Secret Manager at run time). Google-managed encryption at rest applies; a KMS key would add an undeletable key ring and service-agent grants for no gain.
  location      = var.region
  repository_id = "bale-functions"
  format        = "DOCKER"
  description   = "Bale function images (built by Cloud Functions)"

  # Every deploy pushes new images; keep the newest of each (serving, and some to roll back
  # to) and drop superseded untagged ones, so storage does not grow without end.
  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.image_keep_count
    }
  }
  cleanup_policies {
    id     = "delete-old-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "${var.untagged_image_max_age_days * 86400}s"
    }
  }

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
# With public_invoker = false (an organization that refuses allUsers) the invoker check is
# switched off instead, below.
resource "google_cloud_run_v2_service_iam_member" "function_public" {
  for_each = var.public_invoker ? local.functions : {}

  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# A gen2 function is served by a Cloud Run service of the same name. The Cloud Functions API
# (and so google_cloudfunctions2_function in provider 6.50) has no switch for Cloud Run's
# invoker check, so gcloud turns it off on that service, again after every change of the
# function, in case a redeploy turns it back on. Needs gcloud where Terraform runs.
resource "terraform_data" "function_invoker_check_off" {
  for_each = var.public_invoker ? {} : local.functions

  triggers_replace = [
    google_cloudfunctions2_function.function[each.key].build_config,
    google_cloudfunctions2_function.function[each.key].service_config,
  ]

  provisioner "local-exec" {
    command = "gcloud run services update ${google_cloudfunctions2_function.function[each.key].name} --project=${var.project_id} --region=${var.region} --no-invoker-iam-check --quiet"
  }
}
