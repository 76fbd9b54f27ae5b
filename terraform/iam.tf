# Service accounts, one per function plus the dashboard's, and their roles: who may do what.
# (Secret access is granted next to the secrets in dashboard.tf; objects of the files bucket
# in iam_storage.tf; the build's account and roles in build.tf.)

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

# advisories: the daily refresh writes the public advisories' summaries (advisories.tf).
resource "google_project_iam_member" "advisories_datastore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.function["advisories"].member
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
