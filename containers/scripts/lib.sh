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

# start_service NAME LOGDIR CMD...: run an essential service (munged, slurmctld, slurmd) in the
# background, output to LOGDIR/NAME.log. When it exits, `supervise` stops the pod.
start_service() {
    local name="$1" logdir="$2"
    shift 2
    mkdir -p "$logdir"
    log "starting $name: $*"
    "$@" >>"$logdir/$name.log" 2>&1 &
    SERVICE_PIDS+=("$!")
    ALL_PIDS+=("$!")
}

# backoff_seconds MILLISECONDS: the delay as a `sleep` argument (0.250 for 250).
backoff_seconds() {
    printf '%d.%03d' "$(($1 / 1000))" "$(($1 % 1000))"
}

# restart_forever NAME LOGFILE CMD...: run CMD again whenever it exits, waiting longer after
# each quick failure (SERVICE_BACKOFF_INITIAL_MS doubling up to SERVICE_BACKOFF_MAX_MS; a run
# that lasted SERVICE_BACKOFF_RESET_S seconds starts the delay over). Stops CMD on TERM.
restart_forever() {
    local name="$1" logfile="$2"
    shift 2
    local initial="${SERVICE_BACKOFF_INITIAL_MS:-1000}" max="${SERVICE_BACKOFF_MAX_MS:-60000}"
    local reset="${SERVICE_BACKOFF_RESET_S:-60}" delay child="" status started
    delay="$initial"
    trap 'if [[ -n "$child" ]]; then kill "$child" 2>/dev/null; fi; exit 0' TERM INT
    while true; do
        started="$SECONDS"
        "$@" >>"$logfile" 2>&1 &
        child="$!"
        status=0
        wait "$child" || status=$?
        child=""
        if ((SECONDS - started >= reset)); then
            delay="$initial"
        fi
        log "$name exited (status $status); restarting in $(backoff_seconds "$delay")s (log: $logfile)"
        sleep "$(backoff_seconds "$delay")" &
        child="$!"
        wait "$child" || true
        child=""
        delay=$((delay * 2 > max ? max : delay * 2))
    done
}

# start_auxiliary NAME LOGDIR CMD...: run a service the cluster can do without for a while
# (exporters, vLLM, the log endpoint, the collector): when it exits it is restarted with
# backoff and reported in the pod's log; Slurm keeps running.
start_auxiliary() {
    local name="$1" logdir="$2"
    shift 2
    mkdir -p "$logdir"
    log "starting $name: $*"
    restart_forever "$name" "$logdir/$name.log" "$@" &
    ALL_PIDS+=("$!")
}

# stop_all: stop every started service and wait for them.
stop_all() {
    local pid
    for pid in "${ALL_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait || true
}

# supervise: wait until an essential service exits, then stop the others and fail, so the
# pod restarts instead of running Slurm half-way. TERM (the pod stopping) stops everything.
supervise() {
    local status=0 pid
    trap 'log "stopping"; stop_all; exit 0' TERM INT
    log "supervising ${#ALL_PIDS[@]} services"
    wait -n "${SERVICE_PIDS[@]}" || status=$?
    if ((status == 127)); then
        # A service that exited before wait -n began is no longer its job: ask by pid.
        for pid in "${SERVICE_PIDS[@]}"; do
            if ! kill -0 "$pid" 2>/dev/null; then
                status=0
                wait "$pid" || status=$?
                break
            fi
        done
    fi
    log "an essential service exited (status $status); stopping the others"
    stop_all
    exit "$((status == 0 ? 1 : status))"
}

# head_address: how other pods reach this one. On RunPod's global network that is
# <pod id>.runpod.internal; elsewhere the first address of this host.
head_address() {
    if [[ -n "${RUNPOD_POD_ID:-}" ]] && valid_name "$RUNPOD_POD_ID"; then
        printf '%s.runpod.internal\n' "$RUNPOD_POD_ID"
        return 0
    fi
    local addresses
    addresses="$(hostname -I 2>/dev/null || true)"
    printf '%s\n' "${addresses%% *}"
}
