# Bale on Google Cloud. One file per concern:
#
#   apis.tf           the Google APIs the project needs
#   firestore.tf      the database, its indexes, TTL policies, backups and rules
#   storage.tf        the package bucket, the functions' source bucket, their access logs
#   iam.tf            service accounts and roles: who may do what
#   build.tf          the build service account (bale-build) and its roles
#   armor.tf          the optional Cloud Armor policy
#   monitoring.tf     alert policies
#   functions.tf      the simple and oidc functions
#   upload.tf         the upload entry point on Cloud Run, HTTP/2 end to end (requests over 32 MiB)
#   dashboard.tf      the dashboard's Cloud Run service, image repository and secrets
#   load_balancer.tf  one HTTPS host in front of everything
#
# and variables.tf, outputs.tf, versions.tf. This file: the provider and the settings
# every part shares.

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

  # Settings every part reads (see functions/bale/settings.py).
  common_env = {
    GOOGLE_CLOUD_PROJECT    = var.project_id
    BALE_BUCKET             = google_storage_bucket.files.name
    BALE_BASE_URL           = local.base_url
    BALE_PRIVATE_NAMESPACE  = var.private_namespace
    BALE_GITHUB_OIDC_ISSUER = var.github_oidc_issuer
    BALE_OIDC_AUDIENCE      = var.oidc_audience
    # Upstream indexes: credentials from Secret Manager, the default upstream, the page TTL.
    # checkov:skip=CKV_SECRET_6:"secret-manager" names where secrets are looked up; it is no secret
    BALE_UPSTREAM_SECRETS     = "secret-manager"
    BALE_DEFAULT_UPSTREAM_URL = var.default_upstream_url
    BALE_UPSTREAM_PAGE_TTL    = tostring(var.upstream_page_ttl_seconds)
  }
}
