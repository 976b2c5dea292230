#!/usr/bin/env bash
# Installs what the test suite drives besides the sample images, with
# apt-get, when missing (as images/build.sh does for its host tools), and
# says so. The suite then runs the same on a fresh Debian 12 machine.
#
#   python3-boto3, awscli  the Python clients test/integration/python-clients.test.ts drives
#                          (by absolute path: /usr/bin/python3, /usr/bin/aws)
#   chromium               renders the benchmark's HTML report headless
#   openssh-client         ssh and ssh-keygen: test/integration/ssh-workflow.test.ts logs in
#                          to an instance; test/unit/key-pairs.test.ts reads the keys back
#   packer                 Debian's Packer 1.6.6: test/integration/packer.test.ts runs its
#                          amazon-ebs builder against amiboot serve
#   qemu-system-x86        QEMU TCG, the peer of `amiboot bench --vs-qemu`
#                          (test/integration/bench-suite.test.ts)
#
# AMIBOOT_TEST_NO_INSTALL=1 skips the install (the tests that need a missing
# package then fail, naming it).
set -euo pipefail

log() { printf '[test setup] %s\n' "$*" >&2; }

[ "${AMIBOOT_TEST_NO_INSTALL:-}" = "1" ] && exit 0

missing=()
/usr/bin/python3 -c "import boto3" 2>/dev/null || missing+=(python3-boto3)
[ -x /usr/bin/aws ] || missing+=(awscli)
[ -x /usr/bin/chromium ] || missing+=(chromium)
{ [ -x /usr/bin/ssh ] && [ -x /usr/bin/ssh-keygen ]; } || missing+=(openssh-client)
[ -x /usr/bin/packer ] || missing+=(packer)
[ -x /usr/bin/qemu-system-i386 ] || missing+=(qemu-system-x86)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { log "need root or sudo to install: ${missing[*]}"; exit 1; }
  sudo="sudo"
fi
log "installing test packages with apt-get: ${missing[*]}"
$sudo apt-get update -qq || log "apt-get update reported errors; trying the install anyway"
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || { log "could not install ${missing[*]} with apt-get"; exit 1; }
