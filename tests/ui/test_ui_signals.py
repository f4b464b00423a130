"""scripts/dagster-ui.sh stops with all its children on SIGTERM and on SIGINT, also when started
the way a shell starts a background job (SIGINT ignored), on a fresh state."""

import signal
import subprocess
import time

import psutil
import pytest

from mimo.paths import state_env
from tests.ui.ui_server import REPO, graphql, free_port, stop_ui


def _background_like_a_shell() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what `bash -c 'cmd &'` does to a background job


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_ui_script_stops_with_its_children(tmp_path, signo):
    env = state_env(tmp_path / "state")
    port = free_port()
    log = open(tmp_path / "ui.log", "w")
    proc = subprocess.Popen(["bash", str(REPO / "scripts/dagster-ui.sh")], cwd=REPO, env=dict(env, PORT=str(port)),
                            stdout=log, stderr=subprocess.STDOUT, preexec_fn=_background_like_a_shell)
    try:
        deadline = time.time() + 300
        while True:
            assert proc.poll() is None, (tmp_path / "ui.log").read_text()[-3000:]
            try:
                if graphql(port, "{ assetNodes { id } }", timeout=10)["assetNodes"]:
                    break
            except (OSError, KeyError, TypeError, ValueError, RuntimeError):
                pass
            assert time.time() < deadline, "the UI never served the asset graph"
            time.sleep(2)
        family = psutil.Process(proc.pid).children(recursive=True)
        assert len(family) >= 2, "expected the webserver and daemon as children"
        proc.send_signal(signo)  # the script's own pid only, as `kill PID` or systemd would
        assert proc.wait(timeout=90) is not None
        gone, alive = psutil.wait_procs(family, timeout=60)
        assert not alive, f"still running after the UI stopped: {[p.cmdline()[:4] for p in alive]}"
    finally:
        if proc.poll() is None:
            stop_ui(proc)
        log.close()
