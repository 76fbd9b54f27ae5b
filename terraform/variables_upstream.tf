# Variables of upstream indexes (docs/upstream.md): the default upstream and its page cache.

variable "default_upstream_url" {
  type        = string
  description = "BALE_DEFAULT_UPSTREAM_URL: the upstream index an admin gets with `bale admin set-upstream` without --url (PEP 691/503, https). The simple and upload functions fetch from it over the internet (docs/deploy.md, egress)."
  default     = "https://pypi.org/simple/"
}

variable "upstream_page_ttl_seconds" {
  type        = number
  description = "BALE_UPSTREAM_PAGE_TTL: how long a cached upstream page is used before it is revalidated with the upstream's ETag."
  default     = 300
}

variable "upstream_page_cache_days" {
  type        = number
  description = "Cached upstream pages (_upstream/pages/ in the files bucket) not rewritten for this many days are deleted by a lifecycle rule."
  default     = 30
}
