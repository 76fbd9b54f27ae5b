# The package bucket, the functions' source bucket, and the bucket their access logs go to.

resource "google_storage_bucket" "files" {
  #checkov:skip=CKV_GCP_78:Bale writes each package object once (if_generation_match=0) and never overwrites it (only the upstream page cache under _upstream/pages/ is rewritten, and it is a cache; IAM lets the functions create package files but not replace them); soft delete (bucket_soft_delete_days) keeps deleted objects restorable. Versioning would keep the bytes of a file an admin deleted for good; bucket_versioning turns it on for those who want it.
  name                        = local.bucket_name
  location                    = var.bucket_location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Package files are the registry's data: a `terraform destroy` must not empty it.
  force_destroy = false

  versioning {
    enabled = var.bucket_versioning
  }

  # Every request to a package file, for audits and incident response (usage logs).
  logging {
    log_bucket        = google_storage_bucket.access_logs.name
    log_object_prefix = "files/"
  }

  # A deleted object (an admin's `bale admin delete`, or a mistake with IAM) can be restored
  # for this long.
  soft_delete_policy {
    retention_duration_seconds = var.bucket_soft_delete_days * 86400
  }

  # Cached upstream pages are rewritten on every revalidation; one nobody asked for in this
  # long is dropped (it is fetched again on the next request). Copied upstream files
  # (_upstream/files/) are kept: they are what makes an install reproducible. The leading "_"
  # keeps every team's files out of the rule's reach: no team name starts with it.
  lifecycle_rule {
    condition {
      age            = var.upstream_page_cache_days
      matches_prefix = ["_upstream/pages/"]
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_78:Holds only function source archives named by their content hash, rebuilt from the repository on every apply: nothing to restore.
  name                        = "${var.project_id}-bale-source"
  location                    = var.bucket_location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  logging {
    log_bucket        = google_storage_bucket.access_logs.name
    log_object_prefix = "source/"
  }

  depends_on = [google_project_service.apis]
}

# Usage logs of the two buckets above: Cloud Storage writes one CSV object an hour per bucket
# with every request (who, what, when, result). Data Access audit logs would record the same
# at a far higher price per download.
resource "google_storage_bucket" "access_logs" {
  #checkov:skip=CKV_GCP_62:The log bucket itself; logging its own writes would log the logs.
  #checkov:skip=CKV_GCP_78:Log objects are written once by Cloud Storage and only removed by the age rule below.
  name                        = "${var.project_id}-bale-access-logs"
  location                    = var.bucket_location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  lifecycle_rule {
    condition {
      age = var.access_log_retention_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

# Cloud Storage writes usage logs as this Google group (Cloud Storage documentation,
# "Usage logs"); with uniform bucket-level access it needs objectCreator on the log bucket.
# Domain-restricted sharing refuses this group as it refuses allUsers: storage_usage_logs = false
# leaves the grant out (and the usage logs undelivered) rather than failing the apply.
resource "google_storage_bucket_iam_member" "access_logs_writer" {
  count = var.storage_usage_logs ? 1 : 0

  bucket = google_storage_bucket.access_logs.name
  role   = "roles/storage.objectCreator"
  member = "group:cloud-storage-analytics@google.com"
}
