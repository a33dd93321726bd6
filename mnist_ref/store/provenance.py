"""Where and on what a result was measured: an environment block (core.environment.capture) read back from a results
file, once, with the same defaults for every reader (the gate, the pages, the sweeps and versions tables)."""

from __future__ import annotations

import dataclasses

MISSING = "?"


def _text(value) -> str:
    return MISSING if value is None else str(value)


@dataclasses.dataclass(frozen=True)
class Provenance:
    """One environment block as strings; a block the file does not have reads as unknown (known is False)."""

    known: bool
    python: str
    numpy: str
    keras: str
    backend: str
    backend_version: str
    versions: dict[str, str]  # tensorflow / jax / torch / keras, those present
    cpu: str
    arch: str
    usable_cores: str
    gpus: tuple[str, ...]
    accelerator: dict[str, str]  # cuda / cudnn / nvidia_driver, those present
    git_commit: str

    @classmethod
    def of(cls, block) -> Provenance:
        """The view of an environment block (None or anything else than an object: unknown)."""
        known = isinstance(block, dict)
        env = block if known else {}
        fw = env.get("framework") if isinstance(env.get("framework"), dict) else {}
        cpu = env.get("cpu") if isinstance(env.get("cpu"), dict) else {}
        git = env.get("git") if isinstance(env.get("git"), dict) else {}
        backend = _text(fw.get("backend"))
        return cls(
            known=known,
            python=_text(env.get("python")),
            numpy=_text(env.get("numpy")),
            keras=_text(fw.get("keras")),
            backend=backend,
            backend_version=_text(fw.get(backend)),
            versions={k: str(fw[k]) for k in ("tensorflow", "jax", "torch", "keras") if fw.get(k)},
            cpu=_text(cpu.get("model")),
            arch=_text(cpu.get("arch")),
            usable_cores=_text(cpu.get("usable_cores")),
            gpus=tuple(_text(g.get("device_name")) for g in fw.get("gpus") or [] if isinstance(g, dict)),
            accelerator={k: str(fw[k]) for k in ("cuda", "cudnn", "nvidia_driver") if fw.get(k)},
            git_commit=_text(git.get("commit"))[:12],
        )

    @property
    def gpu_list(self) -> str:
        """The GPUs, comma-separated, or 'none'."""
        return ", ".join(self.gpus) or "none"

    @property
    def machine(self) -> str:
        """'<CPU>, <N> usable cores': how a page names the machine."""
        return f"{self.cpu}, {self.usable_cores} usable cores"
