"""Guest mode ``stdio``: run the program as ``__main__`` on the test's stdin.

argv: payload_fd extra_fd cpu_s mem_mb nproc nofile fsize. The payload is the program source.
Writes ``G`` to extra_fd once the guest is up (proof that the sandbox started), then execs the
program; its stdout is judged by the grader, outside the sandbox. Exit code 80 = does not compile, 81 = out of memory compiling.
"""

import builtins
import os
import sys

if __name__ != "__main__":  # on the host; in the sandbox common.py is concatenated before this file
    from mimo.verifiers.sandbox.guest.common import (
        apply_limits,
        limits_from_argv,
        read_fd,
        write_fd,
    )

EXIT_SYNTAX, EXIT_MEMORY = 80, 81


def main(argv):
    payload_fd, extra_fd = int(argv[0]), int(argv[1])
    limits = limits_from_argv(argv[2:])
    write_fd(extra_fd, b"G")
    os.close(extra_fd)
    source = read_fd(payload_fd)
    apply_limits(*limits)
    try:
        code = compile(source, "<program>", "exec")
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError) as e:
        sys.stderr.write(f"{type(e).__name__}: {e}\n")
        sys.stderr.flush()
        os._exit(EXIT_MEMORY if isinstance(e, MemoryError) else EXIT_SYNTAX)
    del source
    exec(code, {"__name__": "__main__", "__builtins__": builtins})


if __name__ == "__main__":
    main(sys.argv[1:])
