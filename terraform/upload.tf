# The upload entry point on Cloud Run, with HTTP/2 end to end.
#
# Cloud Functions (and Cloud Run over HTTP/1) refuse requests over 32 MiB, and twine and uv
# send each distribution in one legacy multipart request, so a 40 MiB CUDA wheel could not
# be published. Cloud Run lifts that limit for a container that speaks cleartext HTTP/2
# (a port named "h2c"). The image (Dockerfile.upload) holds functions/ alone and serves the
# same `upload` entry point of functions/main.py through functions-framework on gunicorn's
# threaded worker, as Cloud Functions does, with gunicorn's h2c enabled. docs/deploy.md
# gives the reasoning and the limits.

locals {
  upload = {
    entry_point = "upload"
    # The body is spooled to /tmp while it is checked, and Cloud Run's /tmp is memory: each
    # request in flight may hold up to max_upload_bytes there (see docs/deploy.md).
    memory      = "4Gi"
    cpu         = "1"
    concurrency = 2
  }
  upload_env = {
    BALE_MAX_UPLOAD_BYTES = tostring(var.max_upload_bytes)
    FUNCTION_TARGET       = local.upload.entry_point
  }
}

resource "google_cloud_run_v2_service" "upload" {
  name     = "bale-upload"
  location = var.region
  # Only the load balancer (and the project's own network) may reach it.
  ingress = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
  # Without an allUsers binding (public_invoker = false), nobody would pass the invoker check.
  invoker_iam_disabled = !var.public_invoker
  # Stateless: its data lives in Firestore and Cloud Storage.
  deletion_protection = false

  template {
    service_account                  = google_service_account.function["upload"].email
    timeout                          = "${var.upload_timeout_seconds}s"
    max_instance_request_concurrency = local.upload.concurrency
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN2"

    scaling {
      min_instance_count = var.function_min_instances
      max_instance_count = var.function_max_instances
    }

    containers {
      image = var.upload_image

      # The port's name is the switch: "h2c" makes Cloud Run speak HTTP/2 to the container,
      # with no request size limit; "http1" would bring back the 32 MiB cap.
      ports {
        name           = "h2c"
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = local.upload.cpu
          memory = local.upload.memory
        }
      }

      dynamic "env" {
        for_each = merge(local.common_env, local.upload_env, var.extra_env)
        content {
          name  = env.key
          value = env.value
        }
      }
    }
  }

  depends_on = [google_project_service.apis]
}

# Bale does its own authentication (tokens), so the platform lets every request through;
# ingress above keeps them coming via the load balancer.
resource "google_cloud_run_v2_service_iam_member" "upload_public" {
  count = var.public_invoker ? 1 : 0

  location = var.region
  name     = google_cloud_run_v2_service.upload.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_compute_region_network_endpoint_group" "upload" {
  name                  = "bale-upload"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = google_cloud_run_v2_service.upload.name
  }
}

resource "google_compute_backend_service" "upload" {
  name                  = "bale-upload"
  protocol              = "HTTPS"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  security_policy       = local.security_policy
  # No timeout_sec: serverless NEG backends take the Cloud Run service's request deadline
  # (upload_timeout_seconds above).

  backend {
    group = google_compute_region_network_endpoint_group.upload.id
  }

  log_config {
    enable      = true
    sample_rate = var.lb_log_sample_rate
  }
}
