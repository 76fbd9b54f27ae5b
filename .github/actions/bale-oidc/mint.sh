#!/usr/bin/env bash
# Exchange this GitHub Actions job's OIDC token for a short-lived Bale token: an upload token
# (BALE_MODE=publish, the default: Trusted Publishing) or a read token (BALE_MODE=read: Trusted
# Access, for `uv sync`/`uv pip install` of private packages).
#
# Reads BALE_REGISTRY_URL, BALE_TEAM, BALE_INDEX (or pyx's names for them, BALE_WORKSPACE and
# BALE_REGISTRY, from the workspace and registry inputs), BALE_MODE and the runner's
# ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN; appends url=…, token=… (and in
# read mode index-url=… and username=__token__) to $GITHUB_OUTPUT. Needs curl and jq (both on
# GitHub-hosted runners).
set -euo pipefail

BALE_MODE="${BALE_MODE:-publish}"
title="Bale Trusted Publishing"
[ "$BALE_MODE" = "read" ] && title="Bale Trusted Access"
fail() { echo "::error title=$title::$*"; exit 1; }
case "$BALE_MODE" in publish | read) ;; *) fail "mode '$BALE_MODE' is neither publish nor read" ;; esac

[ -n "${BALE_REGISTRY_URL:-}" ] || fail "the registry-url input is required"
# pyx-auth-action's input names are aliases: a pyx workflow changes only its uses line and URL.
if [ -n "${BALE_TEAM:-}" ] && [ -n "${BALE_WORKSPACE:-}" ] && [ "$BALE_TEAM" != "$BALE_WORKSPACE" ]; then
  fail "team '$BALE_TEAM' and workspace '$BALE_WORKSPACE' disagree: give one of them"
fi
if [ -n "${BALE_INDEX:-}" ] && [ -n "${BALE_REGISTRY:-}" ] && [ "$BALE_INDEX" != "$BALE_REGISTRY" ]; then
  fail "index '$BALE_INDEX' and registry '$BALE_REGISTRY' disagree: give one of them"
fi
BALE_TEAM="${BALE_TEAM:-${BALE_WORKSPACE:-}}"
[ -n "$BALE_TEAM" ] || fail "the team input (or pyx's workspace) is required"
BALE_INDEX="${BALE_INDEX:-${BALE_REGISTRY:-main}}"
[ -n "${GITHUB_OUTPUT:-}" ] || fail "GITHUB_OUTPUT is not set: run this as a step of a GitHub Actions job"
if [ -z "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" ] || [ -z "${ACTIONS_ID_TOKEN_REQUEST_TOKEN:-}" ]; then
  fail "no OIDC token is available: give this job the permission 'id-token: write'"
fi
command -v jq >/dev/null || fail "jq is required"

base="${BALE_REGISTRY_URL%/}"

# 1. The audience Bale expects in the token.
audience=$(curl --silent --show-error --fail --retry 3 "$base/_/oidc/audience" | jq -er .audience) \
  || fail "could not read the audience from $base/_/oidc/audience"

# 2. This job's OIDC token for that audience, from the runner.
oidc=$(curl --silent --show-error --fail --retry 3 \
  -H "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" \
  "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=$(jq -rn --arg a "$audience" '$a|@uri')" | jq -er .value) \
  || fail "could not get an OIDC token from the runner"
echo "::add-mask::$oidc"

# 3. Exchange it. The body goes through stdin so the token never shows in a process list;
#    team and index tell Bale which index to mint for when the workflow is enrolled in several.
#    A read token covers what the enrollment names: only the token is sent.
if [ "$BALE_MODE" = "read" ]; then
  endpoint="read-token"
  request=$(jq -n --arg token "$oidc" '{token: $token}')
else
  endpoint="mint-token"
  request=$(jq -n --arg token "$oidc" --arg team "$BALE_TEAM" --arg index "$BALE_INDEX" \
    '{token: $token, team: $team, index: $index}')
fi
response=$(curl --silent --show-error --retry 3 -X POST -H "Content-Type: application/json" \
      --data-binary @- -w '\n%{http_code}' "$base/_/oidc/$endpoint" <<<"$request") \
  || fail "could not reach $base/_/oidc/$endpoint"
status="${response##*$'\n'}"
body="${response%$'\n'*}"
if [ "$status" != "200" ]; then
  why=$(jq -r '[.errors[]?.description] | join("; ")' <<<"$body" 2>/dev/null || true)
  fail "Bale refused the OIDC token (HTTP $status): ${why:-$body}"
fi
token=$(jq -er .token <<<"$body") || fail "unexpected answer from $endpoint: $body"
echo "::add-mask::$token"
expires=$(jq -r '.expires // 0' <<<"$body")

if [ "$BALE_MODE" = "read" ]; then
  # For UV_INDEX_<NAME>_USERNAME/_PASSWORD: the index URL carries no credentials.
  index_url="$base/simple/$BALE_TEAM/$BALE_INDEX/"
  {
    echo "url=$index_url"
    echo "index-url=$index_url"
    echo "username=__token__"
    echo "token=$token"
  } >>"$GITHUB_OUTPUT"
  echo "Got a read token for $BALE_TEAM (the indexes this workflow is enrolled for), valid for $(( (expires - $(date +%s)) / 60 )) more minutes."
  exit 0
fi

url="$base/v1/upload/$BALE_TEAM/$BALE_INDEX/"
{
  echo "url=$url"
  echo "token=$token"
} >>"$GITHUB_OUTPUT"
echo "Minted an upload token for $BALE_TEAM/$BALE_INDEX ($(jq -r '.projects | join(", ")' <<<"$body")), valid for $(( (expires - $(date +%s)) / 60 )) more minutes."
