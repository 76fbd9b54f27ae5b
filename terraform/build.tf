# The build service account, bale-build, and its roles: it builds the two Cloud Functions'
# containers and runs `make deploy`'s Cloud Build of the dashboard and upload images
# (cloudbuild.yaml).

# Builds the functions' containers and the images of cloudbuild.yaml instead of the default
# Cloud Build or compute service account, which new projects no longer grant build roles.
resource "google_service_account" "build" {
  account_id   = "bale-build"
  display_name = "Bale builds"

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

# The same account runs `make deploy`'s Cloud Build (cloudbuild.yaml), which pushes the
# dashboard and upload images here; `gcloud builds submit` stages the source in the source
# bucket (build_source below), and the build logs to Cloud Logging only (build_logs).
resource "google_artifact_registry_repository_iam_member" "build_service_images" {
  location   = google_artifact_registry_repository.bale.location
  repository = google_artifact_registry_repository.bale.name
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
