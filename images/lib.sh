# Helpers shared by the image recipes (images/build.sh, images/debian/build.sh).
# Sourced, not run; the caller sets LOG_TAG first.

log() { printf '[%s] %s\n' "${LOG_TAG:-images}" "$*" >&2; }
die() { printf '[%s] error: %s\n' "${LOG_TAG:-images}" "$*" >&2; exit 1; }

# apt_install_host PACKAGE...: install host packages with apt-get (sudo when not root).
apt_install_host() {
  [ $# -eq 0 ] && return 0
  log "installing host packages: $*"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq || log "apt-get update reported errors; trying the install anyway"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || die "could not install $* with apt-get"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }
file_json() { printf '{"file":"%s","bytes":%d,"sha256":"%s"}' "$(basename "$1")" "$(stat -c %s "$1")" "$(sha "$1")"; }

# recipe_hash FILE...: what decides whether outputs must be rebuilt.
recipe_hash() { cat "$@" | sha256sum | cut -d' ' -f1; }

# up_to_date OUT STAMP HASH FILE...: the outputs exist and were built by this recipe.
up_to_date() {
  local out=$1 stamp=$2 hash=$3 f; shift 3
  for f in "$@"; do [ -f "$out/$f" ] || return 1; done
  [ "$(cat "$out/$stamp" 2>/dev/null)" = "$hash" ]
}
