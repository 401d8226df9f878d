#!/usr/bin/env bash
# Run munged in the foreground as the munge user, with the key the entrypoint installed.
set -euo pipefail

SCRIPT_NAME=munged
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

key="${MUNGE_KEY_FILE:-/etc/munge/munge.key}"
[[ -s "$key" ]] || die "no munge key at $key: start the pod through entrypoint.sh with MUNGE_KEY_B64"
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
exec runuser -u munge -- munged --foreground --key-file="$key"
