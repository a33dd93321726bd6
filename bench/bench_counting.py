"""--bench-measure instructions: the session runs again under Valgrind's callgrind, single-threaded, as a child of
this process, which waits for it, removes its dump folder whatever happened and ends with its exit code."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from mnist_ref.core import framework
from mnist_ref.plumbing import interrupts
from mnist_ref.plumbing.errors import MnistRefError


def count_instructions(config) -> None:
    """Inside Valgrind: count with the instructions timer. Outside: run this very pytest command again under
    callgrind and end with its exit code. An interrupt stops the child first (interrupts.run_child), which then writes
    what it measured as a partial file."""
    from mnist_ref.measure import instructions

    if instructions.on_valgrind():
        config.option.benchmark_timer = instructions.TIMER_NAME
        config.option.benchmark_disable_gc = True  # a collection inside one round and not the next moves its count
        return
    folder = instructions.dump_folder()
    try:
        command = instructions.valgrind_command(
            [sys.executable, "-m", "pytest", *config.invocation_params.args], folder
        )
    except MnistRefError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise pytest.UsageError(str(exc)) from None
    env = {**os.environ, **framework.single_thread_environment(), instructions.OUT_ENV: str(folder)}
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.stop_global_capturing()
    interrupts.raise_on_sigterm()
    try:
        code = interrupts.run_child(command, env=env, cwd=config.invocation_params.dir)
    except KeyboardInterrupt as exc:
        code = interrupts.exit_code(exc)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the child's session was this command's; nothing of this process's own is left to run
