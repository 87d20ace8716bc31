"""Loads the compiled ``MultiScaleDeformableAttention`` extension once and picks an implementation per call.

Implementations: ``cuda`` (CUDA kernel; CUDA tensors), ``cpu`` (C++ kernel; CPU tensors), both fp32/fp64/fp16/bf16
with fp16/bf16 accumulated in fp32, and ``pytorch`` (``grid_sample`` reference; anything). ``auto`` (the default)
takes the kernel that matches the tensors' device when it is available and supports the dtype, else the reference.
The choice is ``impl=`` if given, else the environment variable ``VIDSEG_MSDA_IMPL=auto|cuda|cpu|pytorch``; a
forced kernel that cannot run raises ``RuntimeError`` saying why.
"""
import importlib
import os
from types import ModuleType

import torch

ENV_VAR = "VIDSEG_MSDA_IMPL"
IMPLS = ("auto", "cuda", "cpu", "pytorch")
EXT_NAME = "MultiScaleDeformableAttention"
KERNEL_DTYPES: dict[str, tuple[torch.dtype, ...]] = {
    "cpu": (torch.float32, torch.float64, torch.float16, torch.bfloat16),
    "cuda": (torch.float32, torch.float64, torch.float16, torch.bfloat16),
}
_BUILD_HINT = "build it with `pip install --no-deps --no-build-isolation -e .` (see setup.py)"


def _load_extension() -> tuple[ModuleType | None, str]:
    try:
        module = importlib.import_module(f"{__package__}.{EXT_NAME}")
    except ImportError as exc:
        return None, f"extension {EXT_NAME} is not importable ({exc}); {_BUILD_HINT}"
    return module, f"extension loaded from {module.__file__}"


EXT, EXT_REASON = _load_extension()
EXT_AVAILABLE = EXT is not None


def _probe_cpu_reduced_precision() -> None:
    """An extension compiled from older sources (fp32/fp64 CPU kernel only) keeps working: bf16/fp16 CPU inputs
    then go to the reference until it is rebuilt."""
    global EXT_REASON
    tiny = [torch.zeros(1, 1, 1, 1, dtype=torch.bfloat16), torch.ones(1, 2, dtype=torch.long),
            torch.zeros(1, dtype=torch.long), torch.zeros(1, 1, 1, 1, 1, 2, dtype=torch.bfloat16),
            torch.zeros(1, 1, 1, 1, 1, dtype=torch.bfloat16)]
    try:
        EXT.forward_cpu(*tiny)
    except RuntimeError:
        KERNEL_DTYPES["cpu"] = (torch.float32, torch.float64)
        EXT_REASON += " (built from older sources: CPU kernel fp32/fp64 only; rebuild for bf16/fp16)"


if EXT is not None:
    _probe_cpu_reduced_precision()


def impl_status() -> dict[str, tuple[bool, str]]:
    """``{impl: (usable now, why)}`` for ``cuda``, ``cpu`` and ``pytorch``."""
    if EXT is None:
        cpu = cuda = (False, EXT_REASON)
    else:
        names = "/".join(str(t).replace("torch.", "") for t in KERNEL_DTYPES["cpu"])
        cpu = (True, f"C++ kernel, {names}; {EXT_REASON}")
        if not getattr(EXT, "with_cuda", False):
            cuda = (False, "the extension was built without its CUDA kernel (CPU-only build: no GPU at install time "
                    "and FORCE_CUDA unset, or the CUDA compile failed; see build_info.json)")
        elif not torch.cuda.is_available():
            cuda = (False, "the CUDA kernel is compiled in but torch.cuda.is_available() is False")
        else:
            cuda = (True, "CUDA kernel, fp32/fp64/fp16/bf16")
    return {"cuda": cuda, "cpu": cpu, "pytorch": (True, "grid_sample reference, any device and dtype")}


def requested_impl(impl: str | None = None) -> str:
    """The requested mode: ``impl`` if given, else ``$VIDSEG_MSDA_IMPL``, else ``auto``; validated."""
    source = "impl argument" if impl is not None else ENV_VAR
    mode = impl if impl is not None else os.environ.get(ENV_VAR, "auto")
    mode = mode.strip().lower()
    if mode not in IMPLS:
        raise ValueError(f"{source}={mode!r}: expected one of {', '.join(IMPLS)}")
    return mode


def select_impl(value: torch.Tensor, impl: str | None = None) -> str:
    """The implementation (``cuda``, ``cpu`` or ``pytorch``) that will run for tensors like ``value``."""
    mode = requested_impl(impl)
    if mode == "pytorch":
        return mode
    kind = "cuda" if value.is_cuda else "cpu" if value.device.type == "cpu" else None
    status = impl_status()
    if mode == "auto":
        if kind is not None and status[kind][0] and value.dtype in KERNEL_DTYPES[kind]:
            return kind
        return "pytorch"
    usable, why = status[mode]
    if not usable:
        raise RuntimeError(f"MSDA impl {mode!r} was forced but is unavailable: {why}")
    if kind != mode:
        raise RuntimeError(f"MSDA impl {mode!r} was forced but the tensors are on {value.device}")
    if value.dtype not in KERNEL_DTYPES[mode]:
        names = ", ".join(str(t).replace("torch.", "") for t in KERNEL_DTYPES[mode])
        raise RuntimeError(f"MSDA impl {mode!r} was forced but supports {names}, not {value.dtype}")
    return mode
