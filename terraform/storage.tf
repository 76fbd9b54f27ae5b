# The package bucket and the functions' source bucket.

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
