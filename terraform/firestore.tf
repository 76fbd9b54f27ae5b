# The (default) Firestore database, its indexes, TTL policies, backups and rules.

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

# Spent or abandoned bale login codes, and the counters bounding guesses of them.
resource "google_firestore_field" "device_codes_purge_ttl" {
  database   = google_firestore_database.default.name
  collection = "device_codes"
  field      = "purge_at"

  ttl_config {}
  index_config {}
}

resource "google_firestore_field" "device_attempts_purge_ttl" {
  database   = google_firestore_database.default.name
  collection = "device_attempts"
  field      = "purge_at"

  ttl_config {}
  index_config {}
}

# The claims keeping a user code unique among pending logins, and the per-address counts
# of logins started.
resource "google_firestore_field" "device_user_codes_purge_ttl" {
  database   = google_firestore_database.default.name
  collection = "device_user_codes"
  field      = "purge_at"

  ttl_config {}
  index_config {}
}

resource "google_firestore_field" "device_starts_purge_ttl" {
  database   = google_firestore_database.default.name
  collection = "device_starts"
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
