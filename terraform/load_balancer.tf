# Load balancer: one HTTPS host in front of everything, with the path map of DESIGN.md.

resource "google_compute_region_network_endpoint_group" "function" {
  for_each = local.functions

  name                  = "bale-${each.key}"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  # A gen2 function is served by a Cloud Run service of the same name.
  cloud_run {
    service = google_cloudfunctions2_function.function[each.key].name
  }
}

resource "google_compute_region_network_endpoint_group" "dashboard" {
  name                  = "bale-dashboard"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = google_cloud_run_v2_service.dashboard.name
  }
}

resource "google_compute_backend_service" "function" {
  for_each = local.functions

  name                  = "bale-${each.key}"
  protocol              = "HTTPS"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  security_policy       = local.security_policy

  backend {
    group = google_compute_region_network_endpoint_group.function[each.key].id
  }

  log_config {
    enable      = true
    sample_rate = var.lb_log_sample_rate
  }
}

resource "google_compute_backend_service" "dashboard" {
  name                  = "bale-dashboard"
  protocol              = "HTTPS"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  security_policy       = local.security_policy

  backend {
    group = google_compute_region_network_endpoint_group.dashboard.id
  }

  log_config {
    enable      = true
    sample_rate = var.lb_log_sample_rate
  }
}

# The path map of DESIGN.md, the same one `bale dev` serves locally. Paths are
# passed through unchanged, so each function sees the full public path.
resource "google_compute_url_map" "https" {
  name            = "bale"
  default_service = google_compute_backend_service.dashboard.id

  host_rule {
    hosts        = [var.domain]
    path_matcher = "bale"
  }

  path_matcher {
    name            = "bale"
    default_service = google_compute_backend_service.dashboard.id

    path_rule {
      paths   = ["/v1/upload", "/v1/upload/*"]
      service = google_compute_backend_service.upload.id
    }

    path_rule {
      paths   = ["/simple", "/simple/*", "/files/*", "/integrity/*"]
      service = google_compute_backend_service.function["simple"].id
    }

    path_rule {
      paths   = ["/_/oidc/*"]
      service = google_compute_backend_service.function["oidc"].id
    }
  }
}

resource "google_compute_global_address" "bale" {
  name = "bale"

  depends_on = [google_project_service.apis]
}

# A certificate's domains cannot change in place: a new domain is a new certificate, so its
# name carries a suffix drawn anew with the domain, and the new one is created (and the
# proxy moved to it) before the old one is deleted, which a fixed name would refuse.
resource "random_id" "certificate" {
  byte_length = 4
  keepers = {
    domain = var.domain
  }
}

# Provisioning starts once the domain's A record points at the address above and
# takes from a few minutes up to about an hour; until then HTTPS handshakes fail.
resource "google_compute_managed_ssl_certificate" "bale" {
  name = "bale-${random_id.certificate.hex}"

  managed {
    domains = [var.domain]
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [google_project_service.apis]
}

resource "google_compute_ssl_policy" "bale" {
  name            = "bale"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"

  depends_on = [google_project_service.apis]
}

resource "google_compute_target_https_proxy" "bale" {
  name             = "bale"
  url_map          = google_compute_url_map.https.id
  ssl_certificates = [google_compute_managed_ssl_certificate.bale.id]
  ssl_policy       = google_compute_ssl_policy.bale.id
}

resource "google_compute_global_forwarding_rule" "https" {
  name                  = "bale-https"
  ip_address            = google_compute_global_address.bale.id
  port_range            = "443"
  target                = google_compute_target_https_proxy.bale.id
  load_balancing_scheme = "EXTERNAL_MANAGED"
}

# Plain HTTP only redirects. Upload clients must be configured with https:// URLs:
# a redirected POST would lose its body.
resource "google_compute_url_map" "http_redirect" {
  name = "bale-http-redirect"

  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }

  depends_on = [google_project_service.apis]
}

resource "google_compute_target_http_proxy" "http_redirect" {
  name    = "bale-http-redirect"
  url_map = google_compute_url_map.http_redirect.id
}

resource "google_compute_global_forwarding_rule" "http" {
  name                  = "bale-http"
  ip_address            = google_compute_global_address.bale.id
  port_range            = "80"
  target                = google_compute_target_http_proxy.http_redirect.id
  load_balancing_scheme = "EXTERNAL_MANAGED"
}
