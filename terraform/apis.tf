# The Google APIs Bale uses, switched on in the project.

locals {
  apis = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com", # the daily advisories refresh (advisories.tf)
    "compute.googleapis.com",
    "firebaserules.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",  # signBlob, for the simple function's signed URLs
    "identitytoolkit.googleapis.com", # Firebase Auth, for the dashboard
    "logging.googleapis.com",
    "monitoring.googleapis.com", # alert policies (monitoring.tf)
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])
}

resource "google_project_service" "apis" {
  for_each = local.apis

  service = each.value
  # Other workloads in the project may use the same APIs; never switch them off.
  disable_on_destroy = false
}
