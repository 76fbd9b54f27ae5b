# The dashboard: its Cloud Run service, image repository and secrets.

locals {
  # Settings only the dashboard reads (its sign-in). Neither is a secret; the OAuth
  # client's secret comes from Secret Manager below.
  dashboard_env = {
    BALE_FIREBASE_API_KEY       = var.firebase_api_key
    BALE_GOOGLE_OAUTH_CLIENT_ID = var.google_oauth_client_id
  }

  # "Sign in with Google" is offered once an OAuth client is configured. Decided by the
  # client ID, not the (sensitive) secret, so that it can drive count.
  google_signin = var.google_oauth_client_id != ""
}

resource "google_artifact_registry_repository" "bale" {
  #checkov:skip=CKV_GCP_84:The dashboard image is built from this repository's public source and holds no secret or customer data (secrets come from Secret Manager at run time). Google-managed encryption at rest applies; a KMS key would add an undeletable key ring and service-agent grants for no gain.
  location      = var.region
  repository_id = "bale"
  format        = "DOCKER"
  description   = "Bale images: the dashboard and the upload service (cloudbuild.yaml)"

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

resource "random_password" "session_secret" {
  length  = 64
  special = false
}

resource "google_secret_manager_secret" "session" {
  secret_id = "bale-session-secret"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "session" {
  secret      = google_secret_manager_secret.session.id
  secret_data = random_password.session_secret.result
}

resource "google_secret_manager_secret_iam_member" "dashboard_session" {
  secret_id = google_secret_manager_secret.session.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.dashboard.member
}

# The OAuth client secret for "Sign in with Google", only when a client is configured.
resource "google_secret_manager_secret" "google_oauth" {
  count = local.google_signin ? 1 : 0

  secret_id = "bale-google-oauth-client-secret"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "google_oauth" {
  count = local.google_signin ? 1 : 0

  secret      = google_secret_manager_secret.google_oauth[0].id
  secret_data = var.google_oauth_client_secret
}

resource "google_secret_manager_secret_iam_member" "dashboard_google_oauth" {
  count = local.google_signin ? 1 : 0

  secret_id = google_secret_manager_secret.google_oauth[0].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.dashboard.member
}

resource "google_cloud_run_v2_service" "dashboard" {
  name     = "bale-dashboard"
  location = var.region
  ingress  = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
  # Without an allUsers binding (public_invoker = false), nobody would pass the invoker check.
  invoker_iam_disabled = !var.public_invoker
  # Stateless: its data lives in Firestore, so replacing it loses nothing.
  deletion_protection = false

  template {
    service_account = google_service_account.dashboard.email
    # Longer than any request's Firestore deadline (about 15 s for a commit), so a slow
    # backend ends in Bale's own 503, not the platform's timeout (docs/deploy.md, Limits).
    timeout = "60s"

    scaling {
      max_instance_count = var.dashboard_max_instances
    }

    containers {
      image = var.dashboard_image

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
      }

      dynamic "env" {
        for_each = merge(local.common_env, local.dashboard_env, var.extra_env)
        content {
          name  = env.key
          value = env.value
        }
      }

      env {
        name = "BALE_SECRET_KEY"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.session.secret_id
            version = "latest"
          }
        }
      }

      dynamic "env" {
        for_each = local.google_signin ? ["BALE_GOOGLE_OAUTH_CLIENT_SECRET"] : []
        content {
          name = env.value
          value_source {
            secret_key_ref {
              secret  = one(google_secret_manager_secret.google_oauth[*].secret_id)
              version = "latest"
            }
          }
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = (var.google_oauth_client_id == "") == (var.google_oauth_client_secret == "")
      error_message = "Set google_oauth_client_id and google_oauth_client_secret together (or neither, for no Google sign-in)."
    }
  }

  depends_on = [
    google_project_iam_member.dashboard_firebase_auth,
    google_secret_manager_secret_iam_member.dashboard_google_oauth,
    google_secret_manager_secret_iam_member.dashboard_session,
    google_secret_manager_secret_version.google_oauth,
    google_secret_manager_secret_version.session,
  ]
}

resource "google_cloud_run_v2_service_iam_member" "dashboard_public" {
  count = var.public_invoker ? 1 : 0

  location = var.region
  name     = google_cloud_run_v2_service.dashboard.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
