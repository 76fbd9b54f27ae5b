provider "google" {
  project = var.project_id
  region  = var.region

  # Firebase APIs (rules) refuse user credentials without a quota project; sending
  # the project as the quota project makes `gcloud auth application-default login`
  # enough to apply this configuration.
  user_project_override = true
  billing_project       = var.project_id
}

locals {
  base_url    = "https://${var.domain}"
  bucket_name = var.bucket_name != "" ? var.bucket_name : "${var.project_id}-bale-files"

  apis = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "compute.googleapis.com",
    "firebaserules.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",  # signBlob, for the simple function's signed URLs
    "identitytoolkit.googleapis.com", # Firebase Auth, for the dashboard
    "logging.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])

  # Settings every part reads (see functions/bale/settings.py).
  common_env = {
    GOOGLE_CLOUD_PROJECT    = var.project_id
    BALE_BUCKET             = google_storage_bucket.files.name
    BALE_BASE_URL           = local.base_url
    BALE_PRIVATE_NAMESPACE  = var.private_namespace
    BALE_GITHUB_OIDC_ISSUER = var.github_oidc_issuer
    BALE_OIDC_AUDIENCE      = var.oidc_audience
  }

  # Settings only the dashboard reads (its sign-in). Neither is a secret; the OAuth
  # client's secret comes from Secret Manager below.
  dashboard_env = {
    BALE_FIREBASE_API_KEY       = var.firebase_api_key
    BALE_GOOGLE_OAUTH_CLIENT_ID = var.google_oauth_client_id
  }

  # "Sign in with Google" is offered once an OAuth client is configured. Decided by the
  # client ID, not the (sensitive) secret, so that it can drive count.
  google_signin = var.google_oauth_client_id != ""

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

# --- APIs ---------------------------------------------------------------------

resource "google_project_service" "apis" {
  for_each = local.apis

  service = each.value
  # Other workloads in the project may use the same APIs; never switch them off.
  disable_on_destroy = false
}

# --- Firestore ----------------------------------------------------------------

resource "google_firestore_database" "default" {
  name                    = "(default)"
  location_id             = var.firestore_location
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  deletion_policy         = "ABANDON"
  # Any moment of the last 7 days can be read back (and exported) after a bad write.
  point_in_time_recovery_enablement = var.firestore_point_in_time_recovery ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"

  depends_on = [google_project_service.apis]
}

# A daily backup of every record (files live in the bucket, which soft delete protects).
resource "google_firestore_backup_schedule" "daily" {
  count = var.firestore_backup_retention_days > 0 ? 1 : 0

  database  = google_firestore_database.default.name
  retention = "${var.firestore_backup_retention_days * 86400}s"

  daily_recurrence {}
}

# The team page shows its audit log newest first (team == X, order by at descending).
resource "google_firestore_index" "audit_by_team" {
  database   = google_firestore_database.default.name
  collection = "audit"

  fields {
    field_path = "team"
    order      = "ASCENDING"
  }

  fields {
    field_path = "at"
    order      = "DESCENDING"
  }
}

# "Which teams is this person in?" is a collection-group query on members.email;
# collection-group queries need their single-field index enabled explicitly.
resource "google_firestore_field" "members_email" {
  database   = google_firestore_database.default.name
  collection = "members"
  field      = "email"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }
}

# A used OIDC token's jti is recorded so the same token cannot mint twice; the record
# is worthless once the token itself has expired, so Firestore deletes it then.
# index_config {} drops the single-field indexes: nothing queries the field, and an
# index on an ever-increasing timestamp is a write hot spot.
resource "google_firestore_field" "oidc_jti_ttl" {
  database   = google_firestore_database.default.name
  collection = "oidc_jti"
  field      = "expires_at"

  ttl_config {}
  index_config {}
}

# Revoked and expired tokens carry purge_at; they stay visible in the dashboard for a
# while and are then deleted by Firestore instead of by a cron job.
resource "google_firestore_field" "tokens_purge_ttl" {
  database   = google_firestore_database.default.name
  collection = "tokens"
  field      = "purge_at"

  ttl_config {}
  index_config {}
}

# Every client (Firebase SDK) request is denied; the server SDKs use IAM and bypass
# rules. See firestore.rules.
resource "google_firebaserules_ruleset" "firestore" {
  source {
    files {
      name    = "firestore.rules"
      content = file("${path.module}/../firestore.rules")
    }
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [google_firestore_database.default]
}

resource "google_firebaserules_release" "firestore" {
  name         = "cloud.firestore"
  ruleset_name = "projects/${var.project_id}/rulesets/${google_firebaserules_ruleset.firestore.name}"

  lifecycle {
    replace_triggered_by = [google_firebaserules_ruleset.firestore]
  }
}

# --- Cloud Storage ------------------------------------------------------------

resource "google_storage_bucket" "files" {
  name                        = local.bucket_name
  location                    = var.bucket_location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Package files are the registry's data: a `terraform destroy` must not empty it.
  force_destroy = false

  versioning {
    enabled = var.bucket_versioning
  }

  # A deleted object (an admin's `bale admin delete`, or a mistake with IAM) can be restored
  # for this long.
  soft_delete_policy {
    retention_duration_seconds = var.bucket_soft_delete_days * 86400
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket" "source" {
  name                        = "${var.project_id}-bale-source"
  location                    = var.bucket_location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  depends_on = [google_project_service.apis]
}

# --- Service accounts and roles -------------------------------------------------

resource "google_service_account" "function" {
  for_each = local.functions

  account_id   = "bale-${each.key}"
  display_name = "Bale ${each.key} function"

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "dashboard" {
  account_id   = "bale-dashboard"
  display_name = "Bale dashboard"

  depends_on = [google_project_service.apis]
}

# Builds the functions' containers instead of the default compute service account,
# which new projects no longer grant the roles a build needs.
resource "google_service_account" "build" {
  account_id   = "bale-build"
  display_name = "Bale function builds"

  depends_on = [google_project_service.apis]
}

resource "google_project_iam_member" "build" {
  project = var.project_id
  role    = "roles/cloudbuild.builds.builder"
  member  = "serviceAccount:${google_service_account.build.email}"
}

# upload: writes projects, files and pages.
resource "google_project_iam_member" "upload_datastore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.function["upload"].member
}

# upload: creates blobs, reads them back and deletes the blob of an upload whose
# Firestore commit failed. objectUser is the smallest predefined role with delete.
resource "google_storage_bucket_iam_member" "upload_objects" {
  bucket = google_storage_bucket.files.name
  role   = "roles/storage.objectUser"
  member = google_service_account.function["upload"].member
}

# simple: reads pages and records a token's last use, so it writes too.
resource "google_project_iam_member" "simple_datastore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.function["simple"].member
}

resource "google_storage_bucket_iam_member" "simple_objects" {
  bucket = google_storage_bucket.files.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.function["simple"].member
}

# simple: signs download URLs with its own identity (IAM signBlob), as a function has
# no private key of its own.
resource "google_service_account_iam_member" "simple_signs_as_itself" {
  service_account_id = google_service_account.function["simple"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_service_account.function["simple"].member
}

# oidc: records used jti values and writes minted tokens.
resource "google_project_iam_member" "oidc_datastore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.function["oidc"].member
}

# dashboard: manages teams, members, indexes, tokens and trusted publishers.
resource "google_project_iam_member" "dashboard_datastore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.dashboard.member
}

# dashboard: signs people in with Firebase Auth. firebase-admin's create_session_cookie
# calls the Identity Toolkit API (projects.createSessionCookie, permission
# firebaseauth.users.createSession), and the revocation checks of verify_id_token and
# verify_session_cookie read the account (firebaseauth.users.get). No predefined role
# narrower than firebaseauth.admin holds createSession, and Firebase Auth permissions
# exist only at project level. Both calls authenticate with the service account's OAuth
# token and nothing is signed locally (verification uses Google's public certificates),
# so unlike the simple function it needs no iam.serviceAccountTokenCreator on itself.
resource "google_project_iam_member" "dashboard_firebase_auth" {
  project = var.project_id
  role    = "roles/firebaseauth.admin"
  member  = google_service_account.dashboard.member
}

# --- Functions ----------------------------------------------------------------

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

# --- Dashboard ----------------------------------------------------------------

resource "google_artifact_registry_repository" "bale" {
  location      = var.region
  repository_id = "bale"
  format        = "DOCKER"
  description   = "Bale dashboard images"

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
  # Stateless: its data lives in Firestore, so replacing it loses nothing.
  deletion_protection = false

  template {
    service_account = google_service_account.dashboard.email

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
  location = var.region
  name     = google_cloud_run_v2_service.dashboard.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# --- Load balancer: one HTTPS host in front of everything -----------------------

resource "google_compute_region_network_endpoint_group" "function" {
  for_each = local.functions

  name                  = "bale-${each.key}"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  # A gen2 function is served by a Cloud Run service of the same name.
  cloud_run {
    service = google_cloudfunctions2_function.function[each.key].name
  }
}

resource "google_compute_region_network_endpoint_group" "dashboard" {
  name                  = "bale-dashboard"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = google_cloud_run_v2_service.dashboard.name
  }
}

resource "google_compute_backend_service" "function" {
  for_each = local.functions

  name                  = "bale-${each.key}"
  protocol              = "HTTPS"
  load_balancing_scheme = "EXTERNAL_MANAGED"

  backend {
    group = google_compute_region_network_endpoint_group.function[each.key].id
  }
}

resource "google_compute_backend_service" "dashboard" {
  name                  = "bale-dashboard"
  protocol              = "HTTPS"
  load_balancing_scheme = "EXTERNAL_MANAGED"

  backend {
    group = google_compute_region_network_endpoint_group.dashboard.id
  }
}

# The path map of DESIGN.md, the same one `bale dev` serves locally. Paths are
# passed through unchanged, so each function sees the full public path.
resource "google_compute_url_map" "https" {
  name            = "bale"
  default_service = google_compute_backend_service.dashboard.id

  host_rule {
    hosts        = [var.domain]
    path_matcher = "bale"
  }

  path_matcher {
    name            = "bale"
    default_service = google_compute_backend_service.dashboard.id

    path_rule {
      paths   = ["/v1/upload", "/v1/upload/*"]
      service = google_compute_backend_service.function["upload"].id
    }

    path_rule {
      paths   = ["/simple", "/simple/*", "/files/*"]
      service = google_compute_backend_service.function["simple"].id
    }

    path_rule {
      paths   = ["/_/oidc/*"]
      service = google_compute_backend_service.function["oidc"].id
    }
  }
}

resource "google_compute_global_address" "bale" {
  name = "bale"

  depends_on = [google_project_service.apis]
}

# Provisioning starts once the domain's A record points at the address above and
# takes from a few minutes up to about an hour; until then HTTPS handshakes fail.
resource "google_compute_managed_ssl_certificate" "bale" {
  name = "bale"

  managed {
    domains = [var.domain]
  }

  depends_on = [google_project_service.apis]
}

resource "google_compute_ssl_policy" "bale" {
  name            = "bale"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"

  depends_on = [google_project_service.apis]
}

resource "google_compute_target_https_proxy" "bale" {
  name             = "bale"
  url_map          = google_compute_url_map.https.id
  ssl_certificates = [google_compute_managed_ssl_certificate.bale.id]
  ssl_policy       = google_compute_ssl_policy.bale.id
}

resource "google_compute_global_forwarding_rule" "https" {
  name                  = "bale-https"
  ip_address            = google_compute_global_address.bale.id
  port_range            = "443"
  target                = google_compute_target_https_proxy.bale.id
  load_balancing_scheme = "EXTERNAL_MANAGED"
}

# Plain HTTP only redirects. Upload clients must be configured with https:// URLs:
# a redirected POST would lose its body.
resource "google_compute_url_map" "http_redirect" {
  name = "bale-http-redirect"

  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

resource "google_compute_target_http_proxy" "http_redirect" {
  name    = "bale-http-redirect"
  url_map = google_compute_url_map.http_redirect.id
}

resource "google_compute_global_forwarding_rule" "http" {
  name                  = "bale-http"
  ip_address            = google_compute_global_address.bale.id
  port_range            = "80"
  target                = google_compute_target_http_proxy.http_redirect.id
  load_balancing_scheme = "EXTERNAL_MANAGED"
}
