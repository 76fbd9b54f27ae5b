# Service accounts, one per function plus the dashboard's and the build's, and their roles:
# who may do what. (Secret access is granted next to the secrets in dashboard.tf; objects of the
# files bucket in iam_storage.tf.)

resource "google_service_account" "function" {
  for_each = local.service_accounts

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

# The build's roles, each as narrow as the build allows. The predefined
# roles/cloudbuild.builds.builder would be simpler but holds project-wide
# storage.objects.create/update/delete: a build could overwrite or delete every package.
# What a build of a gen2 function needs instead (Cloud Functions' "user-specified build
# service account" documentation): write its logs, push the image to the repository the
# functions name (functions.tf), read the source.
resource "google_project_iam_member" "build_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

resource "google_artifact_registry_repository_iam_member" "build_images" {
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

resource "google_storage_bucket_iam_member" "build_source" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

# Cloud Functions copies the source into buckets of its own (gcf-v2-sources-NUMBER-REGION)
# that it creates on first deploy, so they cannot be named here: a condition limits the
# read to them.
resource "google_project_iam_member" "build_function_sources" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = google_service_account.build.member

  condition {
    title       = "gcf-sources-only"
    description = "Only the buckets Cloud Functions stages function source in."
    expression  = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-\")"
  }
}

# upload: writes projects, files and pages.
resource "google_project_iam_member" "upload_datastore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.function["upload"].member
}

# simple: reads pages and records a token's last use, so it writes too.
resource "google_project_iam_member" "simple_datastore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.function["simple"].member
}

# simple and upload: read upstream credentials, and only the secrets named for them
# (bale-upstream-{team}-{name}; an index names its team's alone, see docs/deploy.md).
resource "google_project_iam_member" "simple_upstream_secrets" {
  project = var.project_id
  role    = "roles/secretmanager.secretAccessor"
  member  = google_service_account.function["simple"].member

  condition {
    title       = "upstream-credentials-only"
    description = "Secrets named bale-upstream-*"
    expression  = "resource.name.extract(\"secrets/{name}/\").startsWith(\"bale-upstream-\")"
  }
}

resource "google_project_iam_member" "upload_upstream_secrets" {
  project = var.project_id
  role    = "roles/secretmanager.secretAccessor"
  member  = google_service_account.function["upload"].member

  condition {
    title       = "upstream-credentials-only"
    description = "Secrets named bale-upstream-*"
    expression  = "resource.name.extract(\"secrets/{name}/\").startsWith(\"bale-upstream-\")"
  }
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
