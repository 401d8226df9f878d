#!/usr/bin/env bash
# Pod entry point: NODE_ROLE=head|worker picks what this pod runs.
# The munge key arrives as the secret MUNGE_KEY_B64 and is never part of the image.
set -euo pipefail

SCRIPT_NAME=entrypoint
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

case "${NODE_ROLE:-}" in
    head | worker) ;;
    *) die "NODE_ROLE must be 'head' or 'worker' (got '${NODE_ROLE:-}')" ;;
esac

# munged runs as this user and must own the key.
export MUNGE_USER="${MUNGE_USER:-munge}"
install_munge_key "${MUNGE_KEY_FILE:-/etc/munge/munge.key}"
start_sshd_if_key
log "role: $NODE_ROLE"
exec "$HERE/start-$NODE_ROLE.sh" "$@"
