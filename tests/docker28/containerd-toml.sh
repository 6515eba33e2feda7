# shellcheck shell=bash
# c28_toml ROOT STATE SOCK OPT [SNAP_SOCK]: a private containerd 2.1 config (version 3) on
# stdout, for the Docker 28 tests (tests/docker28/lib.sh), the bench (bench/d28.sh) and the
# kernel tier's guest (tests/kernel/docker28.sh).  CRI and the snapshotters that cannot work
# here are off (start-up is faster and the log quieter); its opt folder is OPT (the default
# is /opt/containerd); with SNAP_SOCK, buse is a proxy snapshotter on it.  C28_LOG_LEVEL
# (default info) is containerd's log level.
c28_toml() {
  cat <<EOT
version = 3
root = "$1"
state = "$2"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images",
  "io.containerd.cri.v1.runtime", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.erofs",
  "io.containerd.differ.v1.erofs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing", "io.containerd.nri.v1.nri"]
[grpc]
  address = "$3"
[ttrpc]
  address = "$3.ttrpc"
[debug]
  address = ""
  level = "${C28_LOG_LEVEL:-info}"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$4"
EOT
  # The transfer service (ctr images import/pull in 2.x) unpacks only for the snapshotters
  # its unpack_config names; listing buse replaces the default list, so overlayfs is listed too.
  [ -z "${5:-}" ] || cat <<EOT
[proxy_plugins.buse]
  type = "snapshot"
  address = "$5"
[[plugins."io.containerd.transfer.v1.local".unpack_config]]
  platform = "linux/$(dpkg --print-architecture)"
  snapshotter = "overlayfs"
[[plugins."io.containerd.transfer.v1.local".unpack_config]]
  platform = "linux/$(dpkg --print-architecture)"
  snapshotter = "buse"
EOT
}
