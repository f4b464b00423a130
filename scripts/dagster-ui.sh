#!/usr/bin/env bash
# Start the Dagster UI (and daemon: sensors, automation, run queue, run monitoring) on http://127.0.0.1:3000
# for this repo. SIGTERM or SIGINT (Ctrl-C) stops it with its webserver, daemon and code servers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
.venv/bin/python -c "import dagster as dg; s=dg.DagsterInstance.get().event_log_storage; \
'gpu' in s.get_concurrency_keys() or s.set_concurrency_slots('gpu', 1)"
exec .venv/bin/python -m pipelines.ui -m pipelines.definitions -h 127.0.0.1 -p "${PORT:-3000}"
