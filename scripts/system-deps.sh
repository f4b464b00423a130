#!/usr/bin/env bash
# Install the Debian packages the project needs when they are missing (idempotent, quick when done).
#   bubblewrap   OS isolation for the code-reward sandbox (mimo/verifiers/sandbox)
#   python3      the interpreter that runs untrusted programs inside the sandbox (/usr/bin/python3)
#   util-linux   setpriv (drop to an unprivileged uid before entering the sandbox)
#   g++          DeepSpeed JIT-builds its CPU shared-memory collective op on first use
#   chromium, chromium-driver   headless browser and its WebDriver (same Debian version) for the browser
#                test of the Dagster UI (tests/ui); selenium drives it, never downloading a browser
# Uses apt-get as root, sudo -n when available, else prints what to install and exits 0 (the code
# reward then refuses to run untrusted code unless weak isolation is explicitly accepted).
set -euo pipefail

need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
[ -x /usr/bin/python3 ] || need+=(python3)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "[system-deps] missing: ${need[*]} (no apt-get here: install them with your package manager)" >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "[system-deps] missing: ${need[*]}; run: sudo apt-get install -y ${need[*]}" >&2
  exit 0
fi
echo "[system-deps] installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1; then
  "${SUDO[@]}" apt-get update -q >/dev/null
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
command -v bwrap >/dev/null 2>&1 || { echo "[system-deps] bubblewrap install failed" >&2; exit 1; }
command -v chromedriver >/dev/null 2>&1 || { echo "[system-deps] chromium-driver install failed" >&2; exit 1; }
