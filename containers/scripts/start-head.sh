#!/usr/bin/env bash
# Head pod: slurmctld (configless), exporters, vLLM with its log endpoint, the collector.
set -euo pipefail

SCRIPT_NAME="head"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

LOG_DIR="${CLUSTERDASH_LOG_DIR:-/var/log/clusterdash}"
SLURM_ETC="${SLURM_ETC:-/etc/slurm}"
APP_PYTHON="${APP_PYTHON:-/opt/clusterdash/bin/python}"
VLLM_LOG_FILE="${VLLM_LOG_FILE:-/var/log/vllm/vllm.log}"
SERVICE_USER="${SERVICE_USER:-clusterdash}"
HF_HOME="${HF_HOME:-/workspace/huggingface}"
export SLURM_HEAD_HOST="${SLURM_HEAD_HOST:-$(hostname -s)}"
# Workers cannot resolve the head's bare hostname: slurm.conf names it with an address
# (SlurmctldHost=name(addr)), which workers use after their configless fetch.
export SLURM_HEAD_ADDR="${SLURM_HEAD_ADDR:-$(head_address)}"
export SLURMCTLD_PORT="${SLURMCTLD_PORT:-6817}"
export MUNGE_SOCKET="${MUNGE_SOCKET:-/run/munge/munge.socket.2}"
valid_name "$SLURM_HEAD_HOST" || die "SLURM_HEAD_HOST='$SLURM_HEAD_HOST' is not a valid host name"
[[ -n "$SLURM_HEAD_ADDR" ]] ||
    die "cannot tell this pod's address: set SLURM_HEAD_ADDR (RUNPOD_POD_ID is not set and hostname -I is empty)"

"$APP_PYTHON" "$HERE/../slurm/render_config.py" --out "$SLURM_ETC" >/dev/null ||
    die "could not write $SLURM_ETC/slurm.conf from the environment (message above)"
export SLURM_CONF="$SLURM_ETC/slurm.conf"
install -d -o slurm -g slurm -m 0755 /var/spool/slurmctld /var/log/slurm /run/slurm
# The model cache lives on the volume (root-owned on RunPod) and vLLM runs as $SERVICE_USER.
install -d -m 0755 "$(dirname "$HF_HOME")"
install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0755 "$HF_HOME"
chown -R "$SERVICE_USER:$SERVICE_USER" "$HF_HOME"
export HF_HOME

SERVICE_PIDS=()
ALL_PIDS=()
start_service munged "$LOG_DIR" "$HERE/start-munge.sh"
wait_for_socket "$MUNGE_SOCKET" 10

start_service slurmctld "$LOG_DIR" slurmctld -D -f "$SLURM_CONF"
wait_for_tcp 127.0.0.1 "$SLURMCTLD_PORT" "${HEAD_START_TIMEOUT:-60}"

as_user=(runuser -u "$SERVICE_USER" -- env "SLURM_CONF=$SLURM_CONF" "HF_HOME=$HF_HOME")

# No -gpus-acct: it runs sacct, which fails without accounting storage and stops the exporter.
start_auxiliary slurm-exporter "$LOG_DIR" "${as_user[@]}" \
    prometheus-slurm-exporter -listen-address=":9341"
start_auxiliary gpu-exporter "$LOG_DIR" "${as_user[@]}" \
    env PYTHONPATH=/opt/clusterdash/containers "$APP_PYTHON" -m gpu_exporter --port 9400 \
    --no-slurm # the head runs no slurmd: its GPUs serve vLLM, not Slurm jobs
if [[ "${VLLM_ENABLED:-1}" == "1" ]]; then
    install -d -o "$SERVICE_USER" -m 0755 "$(dirname "$VLLM_LOG_FILE")"
    start_auxiliary vllm "$LOG_DIR" "${as_user[@]}" env VLLM_LOG_FILE="$VLLM_LOG_FILE" "$HERE/start-vllm.sh"
fi
start_auxiliary vllm-logs "$LOG_DIR" "${as_user[@]}" \
    env PYTHONPATH=/opt/clusterdash/containers "$APP_PYTHON" -m vllm_logs.log_server \
    --file "$VLLM_LOG_FILE" --port 8002
start_auxiliary collector "$LOG_DIR" "${as_user[@]}" clusterdash collect

# The browser door (the seed's gateway port 3000): only with a basic-auth secret.
if [[ -n "${GATEWAY_HTPASSWD:-}" ]]; then
    install -d -m 0755 /etc/nginx/conf.d
    install -m 0644 "$HERE/../nginx/clusterdash.conf" /etc/nginx/conf.d/clusterdash.conf
    (umask 027 && printf '%s\n' "$GATEWAY_HTPASSWD" >/etc/nginx/clusterdash.htpasswd)
    chgrp www-data /etc/nginx/clusterdash.htpasswd
    unset GATEWAY_HTPASSWD
    start_auxiliary web "$LOG_DIR" "${as_user[@]}" clusterdash serve --port 3010
    start_auxiliary gateway "$LOG_DIR" nginx -g "daemon off;"
else
    log "GATEWAY_HTPASSWD not set: no browser gateway on :3000"
fi

log "head is up: slurmctld :$SLURMCTLD_PORT, GPU metrics :9400, Slurm metrics :9341, vLLM :8000, logs :8002"
supervise
