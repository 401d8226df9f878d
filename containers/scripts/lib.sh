#!/usr/bin/env bash
# Shared helpers for the pod's entry scripts. Source it; it defines functions only.
# shellcheck shell=bash

log() {
    printf '%s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${SCRIPT_NAME:-clusterdash}" "$*" >&2
}

die() {
    log "ERROR: $*"
    exit 1
}

# require_env NAME...: every variable must be set and non-empty.
require_env() {
    local name
    for name in "$@"; do
        if [[ -z "${!name:-}" ]]; then
            die "$name is not set; see containers/README.md for the pod's environment"
        fi
    done
}

# valid_name VALUE: a host/node name Slurm and the shell can carry safely.
valid_name() {
    [[ "$1" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$ ]]
}

# install_munge_key DEST: decode MUNGE_KEY_B64 into DEST (mode 0400), then forget it.
# The key is a secret given to the pod at start; it is never baked into the image.
install_munge_key() {
    local dest="$1" tmp
    if [[ -z "${MUNGE_KEY_B64:-}" ]]; then
        die "MUNGE_KEY_B64 is not set: refusing to start Slurm without the cluster's munge key (create one with: dd if=/dev/urandom bs=1024 count=1 | base64 -w0)"
    fi
    mkdir -p "$(dirname "$dest")"
    tmp="$(mktemp "$(dirname "$dest")/.munge.key.XXXXXX")"
    if ! printf '%s' "$MUNGE_KEY_B64" | base64 -d >"$tmp" 2>/dev/null; then
        rm -f "$tmp"
        die "MUNGE_KEY_B64 is not valid base64"
    fi
    if (($(stat -c %s "$tmp") < 32)); then
        rm -f "$tmp"
        die "MUNGE_KEY_B64 decodes to fewer than 32 bytes; munged needs a longer key"
    fi
    chmod 0400 "$tmp"
    if [[ -n "${MUNGE_USER:-}" ]] && id "$MUNGE_USER" >/dev/null 2>&1; then
        chown "$MUNGE_USER:" "$tmp" || {
            rm -f "$tmp"
            die "cannot give the munge key to user $MUNGE_USER (run the entrypoint as root)"
        }
    fi
    mv -f "$tmp" "$dest"
    unset MUNGE_KEY_B64
}

# start_sshd_if_key: RunPod passes the operator's public key as PUBLIC_KEY; with it, sshd
# starts so the operator can ssh in and run `clusterdash`. Without it, no sshd.
start_sshd_if_key() {
    if [[ -z "${PUBLIC_KEY:-}" ]]; then
        log "PUBLIC_KEY not set: sshd not started"
        return 0
    fi
    install -d -m 0700 /root/.ssh
    printf '%s\n' "$PUBLIC_KEY" >/root/.ssh/authorized_keys
    chmod 0600 /root/.ssh/authorized_keys
    ssh-keygen -A >/dev/null
    install -d -m 0755 /run/sshd
    /usr/sbin/sshd || die "sshd did not start"
}

# wait_for_tcp HOST PORT SECONDS: bounded retry until something accepts connections.
wait_for_tcp() {
    local host="$1" port="$2" seconds="$3" waited=0
    until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
        if ((waited >= seconds)); then
            die "$host:$port did not accept connections within ${seconds}s"
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

# wait_for_socket PATH SECONDS: bounded wait for a daemon's UNIX socket to appear.
wait_for_socket() {
    local path="$1" seconds="$2" waited=0
    until [[ -S "$path" ]]; do
        if ((waited >= seconds)); then
            die "$path did not appear within ${seconds}s"
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

# start_service NAME LOGDIR CMD...: run CMD in the background, output to LOGDIR/NAME.log.
start_service() {
    local name="$1" logdir="$2"
    shift 2
    mkdir -p "$logdir"
    log "starting $name: $*"
    "$@" >>"$logdir/$name.log" 2>&1 &
    SERVICE_PIDS+=("$!")
}

# supervise: wait until any started service exits, then stop the others and fail,
# so the pod restarts instead of running half its services.
supervise() {
    local status=0
    wait -n "${SERVICE_PIDS[@]}" || status=$?
    log "a service exited (status $status); stopping the others"
    kill "${SERVICE_PIDS[@]}" 2>/dev/null || true
    wait || true
    exit "$((status == 0 ? 1 : status))"
}
