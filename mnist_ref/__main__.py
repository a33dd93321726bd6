"""python -m mnist_ref and the mnist-ref script: the mnist-ref command, with SIGTERM an interrupt from its first moment.

A SIGTERM (or Ctrl-C) that lands while the command's modules are still importing ends it with 143 (130) and one line,
as one later does, instead of the default action killing the process before its handler is in place."""

import sys

from mnist_ref.plumbing import interrupts


def run() -> int:
    interrupts.raise_on_sigterm()
    try:
        from mnist_ref.cli import main  # TensorFlow and the rest: seconds of imports

        return main()
    except KeyboardInterrupt as exc:  # before the command's own handling (interrupts.guarded) began
        print(
            f"mnist-ref: interrupted ({interrupts.signal_name(exc)}) while starting; nothing written", file=sys.stderr
        )
        return interrupts.exit_code(exc)


if __name__ == "__main__":
    sys.exit(run())
