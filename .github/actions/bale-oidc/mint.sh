#!/usr/bin/env bash
# Mint a Bale upload token from this GitHub Actions job's OIDC token.
#
# Reads BALE_REGISTRY_URL, BALE_TEAM, BALE_INDEX (or pyx's names for them, BALE_WORKSPACE and
# BALE_REGISTRY, from the workspace and registry inputs) and the runner's ACTIONS_ID_TOKEN_REQUEST_URL
# and ACTIONS_ID_TOKEN_REQUEST_TOKEN; appends url=… and token=… to $GITHUB_OUTPUT. Needs
# curl and jq (both on GitHub-hosted runners).
set -euo pipefail

fail() { echo "::error title=Bale Trusted Publishing::$*"; exit 1; }

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
response=$(jq -n --arg token "$oidc" --arg team "$BALE_TEAM" --arg index "$BALE_INDEX" \
    '{token: $token, team: $team, index: $index}' \
  | curl --silent --show-error --retry 3 -X POST -H "Content-Type: application/json" \
      --data-binary @- -w '\n%{http_code}' "$base/_/oidc/mint-token") \
  || fail "could not reach $base/_/oidc/mint-token"
status="${response##*$'\n'}"
body="${response%$'\n'*}"
if [ "$status" != "200" ]; then
  why=$(jq -r '[.errors[]?.description] | join("; ")' <<<"$body" 2>/dev/null || true)
  fail "Bale refused the OIDC token (HTTP $status): ${why:-$body}"
fi
token=$(jq -er .token <<<"$body") || fail "unexpected answer from mint-token: $body"
echo "::add-mask::$token"

url="$base/v1/upload/$BALE_TEAM/$BALE_INDEX/"
{
  echo "url=$url"
  echo "token=$token"
} >>"$GITHUB_OUTPUT"
expires=$(jq -r '.expires // 0' <<<"$body")
echo "Minted an upload token for $BALE_TEAM/$BALE_INDEX ($(jq -r '.projects | join(", ")' <<<"$body")), valid for $(( (expires - $(date +%s)) / 60 )) more minutes."
