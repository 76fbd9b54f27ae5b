variable "project_id" {
  type        = string
  description = "Google Cloud project that holds everything: Firestore, the buckets, the functions, the dashboard and the load balancer."
}

variable "region" {
  type        = string
  description = "Region of the Cloud Functions, the dashboard's Cloud Run service, the serverless NEGs and the Artifact Registry repository."
  default     = "us-central1"
}

variable "domain" {
  type        = string
  description = "Host name clients use, e.g. pypi.example.com. The managed certificate is issued for it once its A record points at the load balancer's address."

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", var.domain))
    error_message = "domain must be a bare lower-case host name such as pypi.example.com (no scheme, port or path)."
  }
}

variable "firestore_location" {
  type        = string
  description = "Location of the (default) Firestore database, e.g. nam5, eur3 or a region. It cannot be changed after creation."
  default     = "nam5"
}

variable "bucket_name" {
  type        = string
  description = "Name of the Cloud Storage bucket for distribution files and their METADATA. Empty means \"<project_id>-bale-files\"."
  default     = ""
}

variable "bucket_location" {
  type        = string
  description = "Location of the package bucket and the function-source bucket (a multi-region such as US or a region)."
  default     = "US"
}

variable "bucket_versioning" {
  type        = bool
  description = "Keep noncurrent object versions in the package bucket, so a deleted or overwritten file can be restored."
  default     = false
}

variable "bucket_soft_delete_days" {
  type        = number
  description = "Days a deleted object in the package bucket stays restorable (Cloud Storage soft delete; 0 turns it off, at most 90)."
  default     = 30

  validation {
    condition     = var.bucket_soft_delete_days == 0 || (var.bucket_soft_delete_days >= 7 && var.bucket_soft_delete_days <= 90)
    error_message = "bucket_soft_delete_days must be 0 or between 7 and 90."
  }
}

variable "access_log_retention_days" {
  type        = number
  description = "Days the hourly usage logs of the package and source buckets are kept in the access-log bucket (<project_id>-bale-access-logs) before Cloud Storage deletes them."
  default     = 400

  validation {
    condition     = var.access_log_retention_days >= 1
    error_message = "access_log_retention_days must be at least 1."
  }
}

variable "firestore_point_in_time_recovery" {
  type        = bool
  description = "Keep 7 days of Firestore point-in-time recovery, so any moment of the last week can be read back after a bad write."
  default     = true
}

variable "firestore_backup_retention_days" {
  type        = number
  description = "Days each daily Firestore backup is kept (at most 7 for daily backups; 0 turns the schedule off)."
  default     = 7

  validation {
    condition     = var.firestore_backup_retention_days >= 0 && var.firestore_backup_retention_days <= 7
    error_message = "firestore_backup_retention_days must be between 0 and 7."
  }
}

variable "dashboard_image" {
  type        = string
  description = "Container image of the dashboard (built from the repository's Dockerfile). The default is Google's placeholder so the first apply succeeds before any image has been pushed."
  default     = "us-docker.pkg.dev/cloudrun/container/hello"
}

variable "private_namespace" {
  type        = string
  description = "BALE_PRIVATE_NAMESPACE: the namespaces of private classifiers, comma-separated (e.g. \"bale,pyx\"), as in \"Private :: <namespace> :: <team>\"."
  default     = "bale"
}

variable "github_oidc_issuer" {
  type        = string
  description = "BALE_GITHUB_OIDC_ISSUER: issuer of the GitHub Actions OIDC tokens accepted for Trusted Publishing."
  default     = "https://token.actions.githubusercontent.com"
}

variable "oidc_audience" {
  type        = string
  description = "BALE_OIDC_AUDIENCE: audience that Trusted Publishing OIDC tokens must carry (served at /_/oidc/audience)."
  default     = "bale"
}

variable "max_upload_bytes" {
  type        = number
  description = "BALE_MAX_UPLOAD_BYTES for the upload service (Cloud Run, HTTP/2 end to end, so not bound by the 32 MiB HTTP/1 request cap). The largest distribution accepted; a request of that size must also arrive within upload_timeout_seconds."
  default     = 1073741824 # 1 GiB: ML wheels (CUDA builds) run to hundreds of MiB.

  validation {
    condition     = var.max_upload_bytes > 0 && var.max_upload_bytes <= 4294967296
    error_message = "max_upload_bytes must be between 1 and 4294967296 (4 GiB)."
  }
}

variable "upload_image" {
  type        = string
  description = "Container image of the upload service (built from Dockerfile.upload: functions/ served by gunicorn with cleartext HTTP/2). The default is Google's placeholder so the first apply succeeds before any image has been pushed."
  default     = "us-docker.pkg.dev/cloudrun/container/hello"
}

variable "upload_timeout_seconds" {
  type        = number
  description = "Request deadline of the upload service, seconds (Cloud Run allows up to 3600). A 1 GiB upload at 10 MiB/s takes about 100 s."
  default     = 900

  validation {
    condition     = var.upload_timeout_seconds >= 60 && var.upload_timeout_seconds <= 3600
    error_message = "upload_timeout_seconds must be between 60 and 3600."
  }
}

variable "token_cache_seconds" {
  type        = number
  description = "BALE_TOKEN_CACHE_SECONDS for the simple function: how long a read trusts a token its instance checked earlier (a revocation takes effect within this many seconds; uploads never trust it). 0 reads the token on every request."
  default     = 2
  validation {
    condition     = var.token_cache_seconds >= 0 && var.token_cache_seconds <= 60
    error_message = "token_cache_seconds must be 0 to 60: a revocation must take effect within seconds."
  }
}

variable "signed_url_min_bytes" {
  type        = number
  description = "BALE_SIGNED_URL_MIN_BYTES for the simple function: files at least this big are answered with a redirect to a 5-minute signed Cloud Storage URL, so a large download never holds an instance; smaller ones are streamed."
  default     = 4194304
}

variable "function_min_instances" {
  type        = number
  description = "Instances of each function kept warm. 1 or more removes cold starts from installs, at a cost."
  default     = 0
}

variable "function_max_instances" {
  type        = number
  description = "Upper bound on instances of each function, which also bounds concurrent Firestore and Cloud Storage load."
  default     = 20
}

variable "dashboard_max_instances" {
  type        = number
  description = "Upper bound on instances of the dashboard's Cloud Run service."
  default     = 4
}

variable "firebase_api_key" {
  type        = string
  description = "BALE_FIREBASE_API_KEY: the Firebase project's Web API key (Project settings > General in the Firebase console), which the dashboard's sign-in sends to Firebase Auth. Not a secret: it identifies the project and grants nothing. Empty: the sign-in page says sign-in is not configured."
  default     = ""
}

variable "google_oauth_client_id" {
  type        = string
  description = "BALE_GOOGLE_OAUTH_CLIENT_ID: client ID of the OAuth 2.0 web client for \"Sign in with Google\" on the dashboard (redirect URI https://<domain>/auth/google/callback). Empty: no Google sign-in, the button is hidden."
  default     = ""
}

variable "google_oauth_client_secret" {
  type        = string
  description = "BALE_GOOGLE_OAUTH_CLIENT_SECRET: the secret of that OAuth client. Kept in Secret Manager (bale-google-oauth-client-secret) and in Terraform's state. Set together with google_oauth_client_id."
  default     = ""
  sensitive   = true
}

variable "extra_env" {
  type        = map(string)
  description = "Further environment variables for all three functions and the dashboard, e.g. BALE_GITLAB_OIDC_ISSUER or the dashboard's Firebase web settings. They override the ones set here."
  default     = {}
}
