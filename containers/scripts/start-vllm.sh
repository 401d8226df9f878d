#!/usr/bin/env bash
# vLLM on the head: the assistant's model, OpenAI-compatible API on :8000, log to a file
# that the log endpoint (:8002) serves.
set -euo pipefail

SCRIPT_NAME=vllm
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

VLLM_BIN="${VLLM_BIN:-/opt/vllm/bin/vllm}"
VLLM_MODEL="${VLLM_MODEL:-nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16}"
VLLM_PORT="${VLLM_PORT:-8000}"
VLLM_LOG_FILE="${VLLM_LOG_FILE:-/var/log/vllm/vllm.log}"
# The original system's settings: 4 concurrent sequences of up to 32k tokens leave room for
# the KV cache beside about 63 GB of BF16 weights on an 80 GB GPU.
VLLM_MAX_MODEL_LEN="${VLLM_MAX_MODEL_LEN:-32768}"
VLLM_MAX_NUM_SEQS="${VLLM_MAX_NUM_SEQS:-4}"
VLLM_TP="${VLLM_TENSOR_PARALLEL_SIZE:-1}"
[[ -x "$VLLM_BIN" ]] || die "vLLM is not installed at $VLLM_BIN"
[[ "$VLLM_PORT" =~ ^[0-9]+$ ]] || die "VLLM_PORT='$VLLM_PORT' is not a port number"
[[ "$VLLM_TP" =~ ^[0-9]+$ ]] || die "VLLM_TENSOR_PARALLEL_SIZE='$VLLM_TP' is not a number"
[[ "$VLLM_MAX_MODEL_LEN" =~ ^[0-9]+$ ]] || die "VLLM_MAX_MODEL_LEN='$VLLM_MAX_MODEL_LEN' is not a number"
[[ "$VLLM_MAX_NUM_SEQS" =~ ^[0-9]+$ ]] || die "VLLM_MAX_NUM_SEQS='$VLLM_MAX_NUM_SEQS' is not a number"
mkdir -p "$(dirname "$VLLM_LOG_FILE")"

args=(
    serve "$VLLM_MODEL"
    --host 0.0.0.0 --port "$VLLM_PORT"
    --served-model-name "$VLLM_MODEL"
    --tensor-parallel-size "$VLLM_TP"
    --max-model-len "$VLLM_MAX_MODEL_LEN"
    --max-num-seqs "$VLLM_MAX_NUM_SEQS"
    --trust-remote-code
    --enable-auto-tool-choice --tool-call-parser qwen3_coder
)
# Nemotron 3 Nano's reasoning parser (nano_v3) is a vLLM plugin file from the model's
# repository, downloaded at a pinned revision when the image is built. "builtin" relies on a
# vLLM that has the parser; anything else is the path of the file.
plugin="${VLLM_REASONING_PARSER_PLUGIN:-/opt/vllm/plugins/nano_v3_reasoning_parser.py}"
if [[ "$plugin" != "builtin" ]]; then
    [[ -f "$plugin" ]] || die "reasoning parser plugin $plugin does not exist"
    args+=(--reasoning-parser-plugin "$plugin")
fi
args+=(--reasoning-parser nano_v3)

log "vllm ${args[*]} (log: $VLLM_LOG_FILE)"
exec "$VLLM_BIN" "${args[@]}" >>"$VLLM_LOG_FILE" 2>&1
