#!/usr/bin/env bash
# Turns the current process into one pod's container, then execs the container's command.
#
# kubelet.py runs it as `ip netns exec <pod netns> unshare --uts --mount --propagation private
# pod-root.sh ...`: the network namespace is the pod's, `ip netns exec` has bound
# /etc/netns/<ns>/{hosts,resolv.conf,host.conf} over /etc (the pod's DNS), and the new mount and
# UTS namespaces are this pod's alone, so nothing below is seen outside it and it all goes away
# with the process.
#
# What a container runtime would do, and what stands in for it here:
# - the image's root filesystem: a read-only tmpfs holding the host's /usr and /etc (read-only
#   binds) and the usr-merged /bin, /lib... links, with the release binaries bound at
#   /usr/local/bin, where the image (deploy/docker/Dockerfile) puts them;
# - the pod's volumes: directories bound at each container mountPath;
# - the user: runAsUser/runAsGroup, fsGroup as a supplementary group, no capabilities, no new
#   privileges (setpriv), as the chart's securityContext asks. Seccomp and cgroup limits are not
#   applied.
#
# Usage: pod-root.sh ROOT HOSTNAME BIN_DIR WORKDIR UID GID FSGROUP [SRC:MOUNTPATH:ro|rw]... -- COMMAND [ARG]...
# The environment is passed through unchanged: it is the container's.
set -euo pipefail
root=$1 pod_hostname=$2 bin_dir=$3 workdir=$4 uid=$5 gid=$6 fsgroup=$7
shift 7
mounts=()
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  mounts+=("$1")
  shift
done
[ "${1:-}" = "--" ] || { echo "pod-root.sh: no -- before the command" >&2; exit 2; }
shift

# The pod's hostname, in its own UTS namespace (no `hostname` binary needed).
echo "$pod_hostname" >/proc/sys/kernel/hostname
mount -t tmpfs -o mode=0755,size=1m pod-root "$root"

# Host directories the image would carry, read-only. /dev, /proc and /sys as a runtime gives
# them (/sys is the one `ip netns exec` mounted for this network namespace).
for dir in usr etc; do
  mkdir "$root/$dir"
  mount --rbind "/$dir" "$root/$dir"
  mount -o remount,bind,ro "$root/$dir"
done
for dir in dev proc sys; do
  mkdir "$root/$dir"
  mount --rbind "/$dir" "$root/$dir"
done
# Debian's usr-merge: /bin, /lib... are links into /usr; copy the links (or bind real dirs).
for dir in bin sbin lib lib32 lib64 libx32; do
  if [ -L "/$dir" ]; then
    ln -s "$(readlink "/$dir")" "$root/$dir"
  elif [ -d "/$dir" ]; then
    mkdir "$root/$dir"
    mount --rbind "/$dir" "$root/$dir"
    mount -o remount,bind,ro "$root/$dir"
  fi
done
# The image's binaries are the release build's.
mount --bind "$bin_dir" "$root/usr/local/bin"
mount -o remount,bind,ro "$root/usr/local/bin"

for spec in "${mounts[@]}"; do
  IFS=: read -r src dst mode <<<"$spec"
  mkdir -p "$root$dst"
  mount --bind "$src" "$root$dst"
  if [ "$mode" = ro ]; then
    mount -o remount,bind,ro "$root$dst"
  fi
done

# The image's WORKDIR, owned by its user as the Dockerfile makes it.
mkdir -p "$root$workdir"
chown "$uid:$gid" "$root$workdir"

# readOnlyRootFilesystem: only the volumes are writable from here on.
mount -o remount,ro "$root"

exec chroot "$root" env --chdir="$workdir" setpriv --reuid="$uid" --regid="$gid" --groups="$fsgroup" \
  --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"
