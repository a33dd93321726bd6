"""An interrupt that arrives where Python drops exceptions (a gc callback, as JAX registers one; a __del__) is still
an interrupt: raised at the next point where it can propagate, never printed and forgotten (issue: a SIGTERM during
`train` kept training, replaced the record and exited 0)."""

from __future__ import annotations

import random
import signal
import sys
import time

import pytest
from helpers import cli_command, run, start

from mnist_ref.plumbing.interrupts import EXIT_SIGINT, EXIT_SIGTERM

# The interrupt lands inside the callback, where Python would print "Exception ignored" and go on; the script
# then spins for up to 5 s and says whether the interrupt ever reached it.
DROPPED_INSIDE = """
import gc, os, signal, sys, time
from mnist_ref.plumbing import interrupts
interrupts.raise_on_sigterm()
armed = [1]
class Finalized:
    def __del__(self):
        fire()
def fire():
    if armed:
        armed.clear()
        os.kill(os.getpid(), {signum})
        for _ in range(10000):  # the handler runs here, inside the callback
            pass
def callback(phase, info):
    if phase == "start":
        fire()
if "{where}" == "gc":
    gc.callbacks.append(callback)
try:
    if "{where}" == "gc":
        gc.collect()
    else:
        Finalized()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pass
except KeyboardInterrupt as exc:
    print("raised", interrupts.exit_code(exc))
    sys.exit(0)
print("dropped")
sys.exit(1)
"""


@pytest.mark.parametrize("where", ["gc", "del"])
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, EXIT_SIGTERM), (signal.SIGINT, EXIT_SIGINT)])
def test_an_interrupt_python_drops_is_raised_again(tmp_path, where, signum, code):
    script = DROPPED_INSIDE.format(signum=int(signum), where=where)
    # helpers.run: SIGINT at its default, as a suite started in the background would otherwise leave it ignored.
    proc = run([sys.executable, "-c", script], timeout=60)
    assert proc.stdout.strip() == f"raised {code}", proc.stdout + proc.stderr
    assert "Exception ignored" not in proc.stderr


# The same inside a bench session: pytest replaces sys.unraisablehook when it configures itself (its
# unraisableexception plugin), after the bench's conftest installed the redelivering hook; this plugin drops an
# interrupt once collection is over and then spins for 5 s.
DROPPED_IN_PYTEST = """
import gc, os, time
import pytest
armed = [1]
def callback(phase, info):
    if phase == "start" and armed:
        armed.clear()
        os.kill(os.getpid(), {signum})
        for _ in range(10000):
            pass
@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    gc.callbacks.append(callback)
    gc.collect()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pass
    print("the interrupt was lost")
"""


@pytest.mark.slow
@pytest.mark.signals
def test_an_interrupt_dropped_in_a_bench_session_ends_it(tmp_path):
    """pytest's own unraisable hook would turn the dropped interrupt into a test error and let the session go on (the
    session then ends 1, not interrupted); the bench's hook wraps it, so the session ends interrupted (2). SIGTERM
    only: Ctrl-C takes the same hook (test_an_interrupt_python_drops_is_raised_again covers both signals)."""
    signum = signal.SIGTERM
    (tmp_path / "dropper.py").write_text(DROPPED_IN_PYTEST.format(signum=int(signum)))
    command = [sys.executable, "-m", "pytest", "bench", "--collect-only", "-q", "-p", "no:cacheprovider"]
    command += ["-p", "dropper"]
    proc = run(command, env={"PYTHONPATH": str(tmp_path)}, timeout=120)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "the interrupt was lost" not in proc.stdout
    assert "Exception ignored" not in proc.stdout + proc.stderr


PREVIOUS = '{"previous": "complete results"}\n'


@pytest.mark.long
@pytest.mark.signals
def test_train_interrupted_at_random_moments_never_replaces_the_record(real_data_dir, tmp_path):
    """SIGTERM or Ctrl-C at 8 moments drawn over the first 6 s of `train --epochs 1` (imports, data, fit): each ends
    with 143 or 130 and the previous record untouched."""
    moments = random.Random(36).sample([round(0.4 + 0.35 * i, 2) for i in range(16)], 8)
    for n, moment in enumerate(sorted(moments)):
        signum = (signal.SIGTERM, signal.SIGINT)[n % 2]
        out = tmp_path / f"run-{n}.json"
        out.write_text(PREVIOUS)
        proc = start(cli_command("train", "--epochs", "1", "--out", str(out)))
        time.sleep(moment)
        assert proc.poll() is None, f"train ended before {moment} s: {proc.stderr.read()[-1500:]}"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
        expected = EXIT_SIGTERM if signum == signal.SIGTERM else EXIT_SIGINT
        kept = out.read_text() == PREVIOUS
        record = "kept" if kept else "replaced"  # whether the run wrote before the signal ended it
        assert proc.returncode == expected, f"at {moment} s: exit {proc.returncode}, record {record}\n{err[-2000:]}"
        assert kept, f"at {moment} s the record was replaced"
        assert "Traceback" not in err and "Exception ignored" not in err, err[-2000:]


@pytest.mark.long
@pytest.mark.signals
def test_a_bench_interrupted_at_random_moments_never_replaces_its_file(real_data_dir, tmp_path):
    """SIGTERM or Ctrl-C at 4 moments drawn from 2 s to 8 s of a smoke bench (its handler is in place by then):
    pytest ends interrupted (2), the target keeps its previous content, and no traceback or dropped exception is
    printed."""
    moments = sorted(random.Random(37).sample([round(2.0 + 0.5 * i, 2) for i in range(13)], 4))
    for n, moment in enumerate(moments):
        signum = (signal.SIGTERM, signal.SIGINT)[n % 2]
        target = tmp_path / f"bench-{n}.json"
        target.write_text(PREVIOUS)
        proc = start(
            [
                sys.executable,
                "-m",
                "pytest",
                "bench",
                "--benchmark-only",
                "--bench-smoke",
                "--bench-devices",
                "cpu",
                "--bench-modes",
                "book",
                "-p",
                "no:cacheprovider",
                "-q",
                f"--benchmark-json={target}",
            ]
        )
        time.sleep(moment)
        assert proc.poll() is None, f"the bench ended before {moment} s: {proc.stderr.read()[-1500:]}"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, f"at {moment} s: exit {proc.returncode}\n{(out + err)[-2000:]}"
        assert target.read_text() == PREVIOUS, f"at {moment} s the bench file was replaced"
        assert "Exception ignored" not in out + err, (out + err)[-2000:]
