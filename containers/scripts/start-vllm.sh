#!/usr/bin/env bash
# vLLM on the head: the assistant's model, OpenAI-compatible API on :8000, log to a file
# that the log endpoint (:8002) serves.
set -euo pipefail

SCRIPT_NAME=vllm
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

VLLM_BIN="${VLLM_BIN:-/opt/vllm/bin/vllm}"
VLLM_PYTHON="${VLLM_PYTHON:-/opt/vllm/bin/python}"
VLLM_MODEL="${VLLM_MODEL:-nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16}"
VLLM_PORT="${VLLM_PORT:-8000}"
VLLM_LOG_FILE="${VLLM_LOG_FILE:-/var/log/vllm/vllm.log}"
VLLM_MAX_MODEL_LEN="${VLLM_MAX_MODEL_LEN:-131072}"
VLLM_TP="${VLLM_TENSOR_PARALLEL_SIZE:-1}"
[[ -x "$VLLM_BIN" ]] || die "vLLM is not installed at $VLLM_BIN"
[[ "$VLLM_PORT" =~ ^[0-9]+$ ]] || die "VLLM_PORT='$VLLM_PORT' is not a port number"
[[ "$VLLM_TP" =~ ^[0-9]+$ ]] || die "VLLM_TENSOR_PARALLEL_SIZE='$VLLM_TP' is not a number"
[[ "$VLLM_MAX_MODEL_LEN" =~ ^[0-9]+$ ]] || die "VLLM_MAX_MODEL_LEN='$VLLM_MAX_MODEL_LEN' is not a number"
mkdir -p "$(dirname "$VLLM_LOG_FILE")"

args=(
    serve "$VLLM_MODEL"
    --host 0.0.0.0 --port "$VLLM_PORT"
    --served-model-name "$VLLM_MODEL"
    --tensor-parallel-size "$VLLM_TP"
    --max-model-len "$VLLM_MAX_MODEL_LEN"
    --trust-remote-code
    --enable-auto-tool-choice --tool-call-parser qwen3_coder
)
# Nemotron 3 Nano's reasoning parser (nano_v3) ships beside the weights as a vLLM plugin
# file: "auto" fetches it from the model repository, "builtin" relies on a vLLM that has it,
# anything else is the path of the file.
plugin="${VLLM_REASONING_PARSER_PLUGIN:-auto}"
if [[ "$plugin" == "auto" ]]; then
    plugin="$("$VLLM_PYTHON" -c 'import sys
from huggingface_hub import hf_hub_download
print(hf_hub_download(sys.argv[1], sys.argv[2]))' "$VLLM_MODEL" nano_v3_reasoning_parser.py)" ||
        die "could not fetch nano_v3_reasoning_parser.py for $VLLM_MODEL (set HF_TOKEN, or VLLM_REASONING_PARSER_PLUGIN to a local file)"
fi
if [[ "$plugin" != "builtin" ]]; then
    [[ -f "$plugin" ]] || die "reasoning parser plugin $plugin does not exist"
    args+=(--reasoning-parser-plugin "$plugin")
fi
args+=(--reasoning-parser nano_v3)

log "vllm ${args[*]} (log: $VLLM_LOG_FILE)"
exec "$VLLM_BIN" "${args[@]}" >>"$VLLM_LOG_FILE" 2>&1
