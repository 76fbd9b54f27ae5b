# Who may touch which objects of the files bucket. Every grant but simple's read is scoped by
# an IAM condition on the object's name (projects/_/buckets/B/objects/NAME). Teams' package
# files are {team}/…, and no team name starts with "_" (bale.names); Bale's own data is under
# _upstream/ (bale.store.paths). So a condition tells the two apart by name alone.

# Create objects, nothing more: Cloud Storage replaces an object only for a caller who may also
# delete it (storage.objects.delete), so a holder can add files but never overwrite or remove
# one. "Never overwrite a stored file" then holds in IAM, not in Bale's code alone.
resource "google_project_iam_custom_role" "object_creator" {
  role_id     = "baleObjectCreator"
  title       = "Bale object creator"
  description = "Create objects, never replace or delete them. Granted on prefixes of the Bale package bucket."
  permissions = ["storage.objects.create"]

  # Custom roles are made through the IAM API, which a new project has not enabled.
  depends_on = [google_project_service.apis["iam.googleapis.com"]]
}

# upload: creates package files ({team}/…, everything outside "_" prefixes), create-only. It
# reads none back. The blob of an upload whose Firestore commit failed can then no longer be
# deleted by the upload: it stays unreferenced (never served, as after a crash in between) and
# an identical retry reuses it.
resource "google_storage_bucket_iam_member" "upload_objects" {
  bucket = google_storage_bucket.files.name
  role   = google_project_iam_custom_role.object_creator.name
  member = google_service_account.function["upload"].member

  condition {
    title       = "package-files-create-only"
    description = "Objects outside Bale's internal prefixes (_…): the teams' package files"
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.files.name}/objects/\") && !resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.files.name}/objects/_\")"
  }
}

# upload: an identical retry reuses the blob an earlier, failed attempt left, and first touches
# its metadata (bale.api.upload._put): that bumps the metageneration, so a `bale admin sweep`
# that listed the blob as an orphan has its delete refused. storage.objects.update changes an
# object's metadata only; replacing its bytes still needs storage.objects.delete.
resource "google_project_iam_custom_role" "object_reuser" {
  role_id     = "baleObjectReuser"
  title       = "Bale object reuser"
  description = "Change an object's metadata, never its bytes. Granted to the Bale upload on package files."
  permissions = ["storage.objects.update"]

  depends_on = [google_project_service.apis["iam.googleapis.com"]]
}

resource "google_storage_bucket_iam_member" "upload_objects_reuse" {
  bucket = google_storage_bucket.files.name
  role   = google_project_iam_custom_role.object_reuser.name
  member = google_service_account.function["upload"].member

  condition {
    title       = "package-files-metadata-only"
    description = "Objects outside Bale's internal prefixes (_…): the teams' package files"
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.files.name}/objects/\") && !resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.files.name}/objects/_\")"
  }
}

# upload: a project's first upload asks the upstream whether the name is taken, through the
# page cache (_upstream/pages/, read and rewritten).
resource "google_storage_bucket_iam_member" "upload_upstream_pages" {
  bucket = google_storage_bucket.files.name
  role   = "roles/storage.objectUser"
  member = google_service_account.function["upload"].member

  condition {
    title       = "upstream-pages-only"
    description = "Objects under _upstream/pages/ (cached upstream pages)"
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.files.name}/objects/_upstream/pages/\")"
  }
}

resource "google_storage_bucket_iam_member" "simple_objects" {
  bucket = google_storage_bucket.files.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.function["simple"].member
}

# simple: rewrites cached upstream pages (_upstream/pages/) on revalidation, and nothing else.
resource "google_storage_bucket_iam_member" "simple_upstream_cache" {
  bucket = google_storage_bucket.files.name
  role   = "roles/storage.objectUser"
  member = google_service_account.function["simple"].member

  condition {
    title       = "upstream-pages-only"
    description = "Objects under _upstream/pages/ (cached upstream pages)"
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.files.name}/objects/_upstream/pages/\")"
  }
}

# simple: writes verified copies of upstream files (_upstream/files/) once, create-only like
# package files: a copy once served is never replaced.
resource "google_storage_bucket_iam_member" "simple_upstream_copies" {
  bucket = google_storage_bucket.files.name
  role   = google_project_iam_custom_role.object_creator.name
  member = google_service_account.function["simple"].member

  condition {
    title       = "upstream-copies-create-only"
    description = "Objects under _upstream/files/ (verified copies of upstream files)"
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.files.name}/objects/_upstream/files/\")"
  }
}

# dashboard: "delete for good" removes the file's bytes (Packages.delete deletes the blob and
# its .metadata by name). It never reads, lists or writes objects: file pages come from
# Firestore. No predefined role holds storage.objects.delete alone (objectUser, the smallest,
# would also let it read and overwrite every package), so a custom role does, granted on the
# package bucket only.
resource "google_project_iam_custom_role" "object_deleter" {
  role_id     = "baleObjectDeleter"
  title       = "Bale object deleter"
  description = "Delete objects, nothing else. Granted to the Bale dashboard on the package bucket."
  permissions = ["storage.objects.delete"]

  # Custom roles are made through the IAM API, which a new project has not enabled.
  depends_on = [google_project_service.apis["iam.googleapis.com"]]
}

resource "google_storage_bucket_iam_member" "dashboard_objects" {
  bucket = google_storage_bucket.files.name
  role   = google_project_iam_custom_role.object_deleter.name
  member = google_service_account.dashboard.member

  condition {
    title       = "package-files-only"
    description = "Objects outside Bale's internal prefixes (_…): the teams' package files"
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.files.name}/objects/\") && !resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.files.name}/objects/_\")"
  }
}
