#!/usr/bin/env bash
# fetch.sh: Docker 28.5.2, containerd 2.1.9 (and, where /usr/local/bin/docker is missing, a
# Docker 28 client) plus docker-buildx 0.29.1 from Debian's unstable suite, unpacked into a
# cache shared by every clone of the project -- never installed.
#
#   bash tests/docker28/fetch.sh        # prints the unpacked folders; exit 0 ok, 77 cannot
#
# apt runs with a configuration of its own under $D28_CACHE/apt: its own sources list (the
# mirror URI of /etc/apt/sources.list.d/debian.sources, suite sid, main), lists, cache, status
# file and preferences, so the system's apt state is neither read for sources nor changed.
# The Release file is verified against /usr/share/keyrings/debian-archive-keyring.gpg (sid is
# signed by the 12/bookworm and 13/trixie automatic keys, both in Debian 12's keyring, so the
# signature is checked as usual; only Valid-Until is not, as the system's apt does here, because
# the mirror is a frozen snapshot).
# A second run finds the stamp of every package and touches neither apt nor the network.
set -euo pipefail

D28_CACHE=${D28_CACHE:-/var/cache/buse-test/sid}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
SYS_SOURCES=/etc/apt/sources.list.d/debian.sources

# name version-prefix: what we need.  docker-cli only where no Docker 28 client is installed
# (or D28_FETCH_CLI=1).
WANT=("docker.io 28.5.2" "containerd 2.1.9" "docker-buildx 0.29.1")
[ -x /usr/local/bin/docker ] && [ "${D28_FETCH_CLI:-0}" != 1 ] || WANT+=("docker-cli 28.5.2")

say() { echo "fetch.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

# unpacked NAME PREFIX: the finished folder of NAME with a version starting PREFIX, if any.
unpacked() {
  local d
  for d in "$D28_CACHE/$1-$2"*; do
    [ -f "$d/.complete" ] && { echo "$d"; return 0; }
  done
  return 1
}

all_unpacked() {
  local w
  for w in "${WANT[@]}"; do
    # shellcheck disable=SC2086
    unpacked $w >/dev/null || return 1
  done
}

# The mirror URI the system uses for Debian's main archive (deb822 or one-line format).
mirror_uri() {
  local uri=''
  if [ -f "$SYS_SOURCES" ]; then
    uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
      "$SYS_SOURCES")
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' \
      /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || die "no Debian mirror URI in $SYS_SOURCES or /etc/apt/sources.list"
  echo "${uri%/}"
}

# The private apt configuration: every Dir apt reads or writes points under $A.
write_apt_config() {
  local a=$1 uri
  uri=$(mirror_uri)
  mkdir -p "$a/lists/partial" "$a/cache/archives/partial" "$a/etc/sources.list.d" \
    "$a/etc/preferences.d" "$a/debs"
  : >"$a/status"
  chown _apt "$a/debs" 2>/dev/null || true # apt downloads as _apt where it can
  cat >"$a/etc/sid.sources" <<EOT
Types: deb
URIs: $uri
Suites: sid
Components: main
Signed-By: $KEYRING
EOT
  cat >"$a/apt.conf" <<EOT
Dir::State::Lists "$a/lists";
Dir::State::status "$a/status";
Dir::Cache "$a/cache";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Dir::Etc::SourceList "$a/etc/sid.sources";
Dir::Etc::SourceParts "$a/etc/sources.list.d";
Dir::Etc::Preferences "$a/etc/preferences";
Dir::Etc::PreferencesParts "$a/etc/preferences.d";
APT::Architectures { "$(dpkg --print-architecture)"; };
Acquire::Languages "none";
// The mirror here is a frozen snapshot whose Release is past its Valid-Until (the system's
// apt.conf.d says the same); the signature is still checked.
Acquire::Check-Valid-Until "false";
#clear APT::Update::Post-Invoke-Success;
#clear APT::Update::Post-Invoke;
EOT
  say "private apt config $a/apt.conf: $uri sid main, keyring $KEYRING"
}

# apt_sid ARGS: apt-get on the private configuration.
apt_sid() { APT_CONFIG=$A/apt.conf apt-get -q "$@"; }

# candidate NAME PREFIX: the newest sid version of NAME starting PREFIX.
candidate() {
  APT_CONFIG=$A/apt.conf apt-cache madison "$1" | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' |
    grep -E "^([0-9]+:)?$2([+~.-]|$)" | head -n 1
}

fetch_one() { # name prefix
  local name=$1 prefix=$2 ver deb dir
  if dir=$(unpacked "$name" "$prefix"); then
    say "$name $prefix: already unpacked in $dir"
    return 0
  fi
  ver=$(candidate "$name" "$prefix") ||
    die "sid has no $name $prefix* (apt-cache madison $name: $(APT_CONFIG=$A/apt.conf apt-cache madison "$name" | tr '\n' ';'))"
  say "downloading $name $ver"
  (cd "$A/debs" && apt_sid download "$name=$ver") >&2 || die "apt-get download $name=$ver failed"
  deb=$(ls "$A/debs/${name}_${ver#*:}_"*.deb 2>/dev/null | head -n 1)
  [ -n "$deb" ] || die "apt-get download left no .deb for $name $ver in $A/debs"
  dir=$D28_CACHE/$name-${ver#*:}
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  dpkg-deb -x "$deb" "$dir.tmp" || die "dpkg-deb -x $deb"
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
  echo "$ver" >"$dir/.complete"
  rm -f "$deb"
  say "$name $ver unpacked in $dir"
}

# check_runs: the binaries run on this system (glibc 2.34 or newer).
check_runs() {
  local d c b
  d=$(unpacked docker.io 28.5.2)
  c=$(unpacked containerd 2.1.9)
  "$d/usr/sbin/dockerd" --version >&2 || die "$d/usr/sbin/dockerd does not run (glibc $(ldd --version | head -n1))"
  "$c/usr/bin/containerd" --version >&2 || die "$c/usr/bin/containerd does not run"
  "$c/usr/bin/containerd-shim-runc-v2" -v >&2 || die "containerd-shim-runc-v2 does not run"
  b=$(unpacked docker-buildx 0.29.1)
  [ -x "$b/usr/libexec/docker/cli-plugins/docker-buildx" ] ||
    die "no docker-buildx plugin under $b/usr/libexec/docker/cli-plugins"
  "$b/usr/libexec/docker/cli-plugins/docker-buildx" version >&2 || die "docker-buildx does not run"
}

main() {
  mkdir -p "$D28_CACHE"
  exec 9>"$D28_CACHE/.lock"
  flock 9 # one fetch at a time across clones
  if all_unpacked; then
    check_runs
    for w in "${WANT[@]}"; do
      # shellcheck disable=SC2086
      unpacked $w
    done
    return 0
  fi
  command -v apt-get >/dev/null || die "apt-get not found"
  command -v dpkg-deb >/dev/null || die "dpkg-deb not found"
  [ -r "$KEYRING" ] || die "$KEYRING missing (install debian-archive-keyring)"
  A=$D28_CACHE/apt
  write_apt_config "$A"
  say "apt-get update (sid, private lists in $A/lists)"
  apt_sid update >"$A/update.log" 2>&1 || {
    cat "$A/update.log" >&2
    grep -q NO_PUBKEY "$A/update.log" &&
      say "sid's Release is signed by a key not in $KEYRING (update debian-archive-keyring)"
    die "apt-get update of sid failed"
  }
  ! grep -qE '^(W|E):' "$A/update.log" || grep -E '^(W|E):' "$A/update.log" >&2
  for w in "${WANT[@]}"; do
    # shellcheck disable=SC2086
    fetch_one $w
  done
  check_runs
  for w in "${WANT[@]}"; do
    # shellcheck disable=SC2086
    unpacked $w
  done
}

main "$@"
