"""The stall watchdog: every thread's stack in the log when a step does not end in time."""

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def test_a_stalled_step_dumps_every_thread_and_a_beating_loop_does_not():
    stalled = _run("""
        import threading, time
        from mimo.train.stall import StallWatchdog
        def waiting_for_an_event_that_never_comes():
            time.sleep(1.5)
        threading.Thread(target=lambda: time.sleep(3), name="helper", daemon=True).start()
        with StallWatchdog(0.5) as w:
            waiting_for_an_event_that_never_comes()
    """)
    assert "waiting_for_an_event_that_never_comes" in stalled
    assert stalled.count("Thread 0x") >= 2  # the main thread and the helper

    beating = _run("""
        import time
        from mimo.train.stall import StallWatchdog
        with StallWatchdog(0.5) as w:
            for _ in range(6):
                time.sleep(0.2)
                w.beat()
    """)
    assert "Thread 0x" not in beating and "Current thread" not in beating


def test_off_when_zero():
    assert _run("""
        import time
        from mimo.train.stall import StallWatchdog
        with StallWatchdog(0):
            time.sleep(0.3)
    """) == ""
