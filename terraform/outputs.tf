output "base_url" {
  description = "Public base URL of the registry (BALE_BASE_URL)."
  value       = local.base_url
}

output "upload_url" {
  description = "Upload endpoint prefix: append TEAM/INDEX/ for `uv publish --publish-url` or twine's repository URL."
  value       = "${local.base_url}/v1/upload/"
}

output "simple_url" {
  description = "Simple index prefix: append TEAM/INDEX/ for `uv pip install --index-url` or pip's --index-url."
  value       = "${local.base_url}/simple/"
}

output "load_balancer_ip" {
  description = "Address to point the domain's A record at."
  value       = google_compute_global_address.bale.address
}

output "bucket_name" {
  description = "Cloud Storage bucket holding distribution files (BALE_BUCKET)."
  value       = google_storage_bucket.files.name
}

output "dashboard_image_repository" {
  description = "Artifact Registry repository to push the dashboard image to."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.bale.repository_id}"
}

output "admin_env" {
  description = "Environment for running `bale admin` against this deployment with your Application Default Credentials."
  value       = "GOOGLE_CLOUD_PROJECT=${var.project_id} BALE_BUCKET=${google_storage_bucket.files.name}"
}
