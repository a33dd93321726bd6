"""The steady measure: instructions executed in a region of this process, counted by Valgrind's callgrind.

Wall time on a shared 2-core VM moves by up to 1.5x between processes of the same code, and the one setting
that held still (one pinned core) did so by waiting, blind to 15-25% more work a step (README, "Regression
checks"). An instruction count of the same bounded work is repeatable (the same binary, inputs and
environment execute the same instructions whatever else the machine does) and grows with every extra
operation. It is not time: memory stalls and vector width are invisible to it, and it says nothing about a
GPU. The bench uses it as its steady mode (`--bench-measure instructions`), `mnist-ref ab` by default.

How: the process runs under `valgrind --tool=callgrind --instr-atstart=no` (imports and warm-up run without
instrumentation, about 10x slower than native instead of 100-200x). `counter.start()` starts instrumentation
and zeroes the counts; `counter.stop()` dumps them (callgrind's client requests), reads the dump's total and
stops instrumentation again; `counter()` reads the running total, as a pytest-benchmark timer. Client requests are
the special no-op instruction sequence from valgrind.h, placed in an executable page and called through
ctypes: no compiler is needed, and natively the sequence does nothing (x86-64 Linux only).
"""

from __future__ import annotations

import collections
import ctypes
import mmap
import os
import platform
import re
import shutil
import sys
import tempfile
from pathlib import Path

from mnist_ref.plumbing.errors import ConfigError

# Where callgrind writes its dumps (set when the bench re-runs itself under Valgrind; read by counter()).
OUT_ENV = "MNIST_REF_CALLGRIND_OUT"
# The pytest-benchmark timer of the steady mode (--benchmark-timer takes it by this name).
TIMER_NAME = "mnist_ref.measure.instructions.counter"
# callgrind's options: nothing instrumented until the first counted region; per-function totals only.
VALGRIND_OPTIONS = ("--tool=callgrind", "--instr-atstart=no", "--dump-instr=no", "--compress-strings=no")

# valgrind.h, amd64: rol $3, $13, $61, $51 of %rdi (a no-op: 128 bits in all), then xchg %rbx,%rbx, which
# Valgrind reads as "client request at %rax, result in %rdx". Wrapped as
# unsigned long request(unsigned long *args /* %rdi */, unsigned long default /* %rsi */):
#   mov %rdi,%rax; mov %rsi,%rdx; <preamble>; xchg %rbx,%rbx; mov %rdx,%rax; ret
_REQUEST_CODE = bytes.fromhex("4889f84889f248c1c70348c1c70d48c1c73d48c1c7334887db4889d0c3")
_RUNNING_ON_VALGRIND = 0x1001
_CALLGRIND = (ord("C") << 24) | (ord("T") << 16)  # VG_USERREQ_TOOL_BASE('C','T'), callgrind.h
_DUMP_STATS_AT, _ZERO_STATS = _CALLGRIND + 3, _CALLGRIND + 1
_START_INSTRUMENTATION, _STOP_INSTRUMENTATION = _CALLGRIND + 4, _CALLGRIND + 5


class _Requests:
    """Valgrind client requests from Python (see _REQUEST_CODE)."""

    def __init__(self):
        if platform.machine() not in ("x86_64", "AMD64") or not sys.platform.startswith("linux"):
            raise ConfigError(
                f"instruction counts need x86-64 Linux (Valgrind client requests); this is {sys.platform} "
                f"{platform.machine()}: use --bench-measure time"
            )
        self._page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        self._page.write(_REQUEST_CODE)
        address = ctypes.addressof(ctypes.c_char.from_buffer(self._page))
        self._call = ctypes.CFUNCTYPE(ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong), ctypes.c_ulong)(address)

    def __call__(self, request: int, arg: int = 0) -> int:
        args = (ctypes.c_ulong * 6)(request, arg, 0, 0, 0, 0)
        return self._call(args, 0)


_requests: _Requests | None = None


def _request(request: int, arg: int = 0) -> int:
    global _requests
    if _requests is None:
        _requests = _Requests()
    return _requests(request, arg)


def on_valgrind() -> bool:
    """Whether this process runs under Valgrind."""
    try:
        return _request(_RUNNING_ON_VALGRIND) > 0
    except ConfigError:
        return False


def valgrind_command(argv: list[str], out_dir: Path) -> list[str]:
    """argv run under callgrind, dumps to out_dir; ConfigError when valgrind is not installed."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise ConfigError(
            "--bench-measure instructions needs valgrind (Debian/Ubuntu: apt-get install valgrind); "
            "or measure time with --bench-measure time"
        )
    return [valgrind, "--quiet", *VALGRIND_OPTIONS, f"--callgrind-out-file={out_dir}/callgrind.%p", *argv]


def tool_version() -> str:
    """`valgrind --version`, e.g. valgrind-3.19.0."""
    import subprocess

    out = subprocess.run(["valgrind", "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "valgrind (version unknown)"


def dump_folder() -> Path:
    """A fresh folder for one process' dumps (counter() deletes each dump once read)."""
    return Path(tempfile.mkdtemp(prefix="mnist-ref-callgrind-"))


# Where a step's instructions go, by the object and function callgrind attributes each to (self cost): the math
# kernels (by function name, since TensorFlow links its kernels into the same library as its runtime), the Python
# interpreter, the C and C++ runtime, code compiled at run time (XLA's, in no file: '???'), and the rest (the
# framework's runtime, NumPy, Keras' and the harness' extensions).
PARTS = (
    "math kernels",
    "Python interpreter",
    "framework runtime and other libraries",
    "C/C++ runtime",
    "compiled at run time",
)
_KERNEL = re.compile(r"eigen|gemm|gemv|dnnl|mkldnn|mkl_|blas|xsmm|matmul|conv2d|convolution", re.I)
_SYSTEM = re.compile(r"/(libc|libm|libstdc\+\+|libgcc_s|ld-linux[^/]*|libpthread|libgomp|libdl|librt)[.-][^/]*$")


def part_of(obj: str, function: str) -> str:
    """Which of PARTS a function of an object counts towards."""
    name = obj.rsplit("/", 1)[-1]
    if _SYSTEM.search(obj):
        return PARTS[3]
    if _KERNEL.search(function):
        return PARTS[0]
    if name.startswith(("libpython", "python")):
        return PARTS[1]
    if obj in ("???", "") or name.startswith(("perf-", "[")):
        return PARTS[4]
    return PARTS[2]


def dump_parts(path: Path) -> dict[str, int]:
    """A callgrind dump's instructions by PARTS (self cost of every function, never a call's inclusive cost); the
    parts sum to the dump's total."""
    parts = dict.fromkeys(PARTS, 0)
    names: dict[str, str] = {}
    obj = function = ""
    skip_next = False
    part = PARTS[2]

    def name(value: str) -> str:
        # "(id) name" defines an id, "(id)" uses it (string compression), a plain name is itself
        value = value.strip()
        if value.startswith("("):
            ident, _, rest = value.partition(")")
            if rest.strip():
                names[ident] = rest.strip()
            return names.get(ident, rest.strip())
        return value

    for line in path.read_text(errors="replace").splitlines():
        if not line:
            continue
        head = line[0]
        if head.isdigit() or head in "+-*":
            if skip_next:
                skip_next = False
                continue
            fields = line.split()
            if len(fields) > 1:
                parts[part] += int(fields[1])
        elif line.startswith("ob="):
            obj = name(line[3:])
            part = part_of(obj, function)
        elif line.startswith("fn="):
            function = name(line[3:])
            part = part_of(obj, function)
        elif line.startswith("calls="):
            skip_next = True
        elif line.startswith(("cob=", "cfn=", "cfi=", "cfl=")):
            name(line[4:])  # defines an id later lines may use
        elif line.startswith(("fl=", "fi=", "fe=")):
            name(line[3:])
    return parts


def dump_total(path: Path) -> int:
    """The instructions a callgrind dump counted (its `totals:` line); ConfigError when it has none."""
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise ConfigError(f"{path}: a callgrind dump without a totals line; is this callgrind 3.15 or later?")


class Counter:
    """Instructions counted in regions of this process, by every thread. start() and stop() bound a region
    (stop dumps callgrind's counts, reads the total and deletes the dump); calling the counter reads the
    running total without touching a region, which makes it a pytest-benchmark timer: a round's "duration" is
    the instructions of the regions that closed inside it."""

    def __init__(self):
        self.total = 0
        self.dumps = 0
        self.open = False
        self.parts: collections.Counter = collections.Counter()  # instructions by PARTS, over every region so far

    def _dump_path(self) -> Path:
        folder = os.environ.get(OUT_ENV)
        if not folder:
            raise ConfigError(
                f"instruction counting needs the process to run under callgrind with {OUT_ENV} set; "
                "run the bench with --bench-measure instructions, which does that"
            )
        return Path(folder) / f"callgrind.{os.getpid()}.{self.dumps}"

    def start(self) -> None:
        if not self.open:
            _request(_START_INSTRUMENTATION)
            _request(_ZERO_STATS)
            self.open = True

    def stop(self) -> None:
        if not self.open:
            return
        label = ctypes.create_string_buffer(b"mnist-ref region")
        _request(_DUMP_STATS_AT, ctypes.addressof(label))
        _request(_STOP_INSTRUMENTATION)
        self.open = False
        self.dumps += 1
        path = self._dump_path()
        self.total += dump_total(path)
        self.parts.update(dump_parts(path))
        path.unlink()

    def __call__(self) -> int:
        return self.total


counter = Counter()
