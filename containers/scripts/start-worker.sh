#!/usr/bin/env bash
# Worker pod: munged, the GPU exporter and a dynamic slurmd that fetches its config from the head.
set -euo pipefail

SCRIPT_NAME=worker
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

require_env SLURM_HEAD_HOST
valid_name "$SLURM_HEAD_HOST" || die "SLURM_HEAD_HOST='$SLURM_HEAD_HOST' is not a valid host name"
LOG_DIR="${CLUSTERDASH_LOG_DIR:-/var/log/clusterdash}"
APP_PYTHON="${APP_PYTHON:-/opt/clusterdash/bin/python}"
SERVICE_USER="${SERVICE_USER:-clusterdash}"
SLURMCTLD_PORT="${SLURMCTLD_PORT:-6817}"
NODE_NAME="${SLURM_NODE_NAME:-$(hostname -s)}"
valid_name "$NODE_NAME" || die "SLURM_NODE_NAME='$NODE_NAME' is not a valid node name"
MUNGE_SOCKET=/run/munge/munge.socket.2
# No slurm.conf exists on a worker: slurmd fetches it from the head and links it at
# /run/slurm/conf, where Slurm's commands (the GPU exporter's squeue) look when SLURM_CONF is
# unset. A SLURM_CONF naming a missing file makes each command retry it for a minute.
unset SLURM_CONF

# Bounded wait: a worker whose head never comes up fails and is restarted, visibly.
log "waiting for the head at $SLURM_HEAD_HOST:$SLURMCTLD_PORT"
wait_for_tcp "$SLURM_HEAD_HOST" "$SLURMCTLD_PORT" "${HEAD_WAIT_SECONDS:-300}"

gpus="$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | wc -l)" ||
    die "nvidia-smi failed: is this pod running with GPUs?"
((gpus > 0)) || die "no GPUs visible in this pod"
install -d -m 0755 /var/spool/slurmd /var/log/slurm /run/slurm

SERVICE_PIDS=()
ALL_PIDS=()
start_service munged "$LOG_DIR" "$HERE/start-munge.sh"
wait_for_socket "$MUNGE_SOCKET" 10

start_auxiliary gpu-exporter "$LOG_DIR" runuser -u "$SERVICE_USER" -- \
    env PYTHONPATH=/opt/clusterdash/containers "$APP_PYTHON" -m gpu_exporter \
    --port 9400 --slurm-node "$NODE_NAME"
# Dynamic node: registers with its real CPUs and memory; gres.conf (AutoDetect=nvml) comes
# from the head with slurm.conf and fills in the GPUs' types and files.
start_service slurmd "$LOG_DIR" slurmd -D -Z -N "$NODE_NAME" \
    --conf-server "$SLURM_HEAD_HOST:$SLURMCTLD_PORT" \
    --conf "Feature=gpu Gres=gpu:$gpus"

log "worker $NODE_NAME is up with $gpus GPUs: GPU metrics :9400"
supervise
