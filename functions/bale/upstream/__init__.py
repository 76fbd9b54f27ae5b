"""Upstream indexes: one Bale URL for a team's private packages and a public index, private
first and never merged (policy.py), fetched within limits (client.py), cached in Cloud
Storage (cache.py), with per-team credentials (secrets.py) and admin settings (service.py)."""
