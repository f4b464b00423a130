"""``dagster dev`` (webserver, daemon, code servers) that stops cleanly, children included, on
SIGTERM or SIGINT, also when started in the background.

Dagster maps SIGTERM onto the SIGINT handler; a shell starting a background job (``cmd &``) sets
SIGINT to "ignore", and that disposition survives ``exec``, so plain ``dagster dev`` started that
way ignored both signals. Here both raise ``KeyboardInterrupt``, on which ``dagster dev`` asks its
webserver and daemon to shut down and waits for them.
"""

import signal
import sys


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    from dagster._cli import main as dagster_main

    sys.argv = ["dagster", "dev", *(sys.argv[1:] if argv is None else argv)]
    dagster_main()


if __name__ == "__main__":
    main()
