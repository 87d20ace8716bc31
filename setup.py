"""Installs vidseg and the method packages (``pip install -e . --no-build-isolation``).

It also builds the ``MultiScaleDeformableAttention`` extension from ``vidseg/layers/ms_deform_attn/csrc``:
the CPU kernel always, the CUDA kernel too when a GPU is visible or ``FORCE_CUDA=1`` (``TORCH_CUDA_ARCH_LIST``
is respected; without a GPU it defaults to ``8.0;8.6;9.0+PTX``). Failures degrade instead of breaking the
install: CPU+CUDA -> CPU only -> pure Python (the ``grid_sample`` reference), each step printed as a warning and
recorded in ``vidseg/layers/ms_deform_attn/build_info.json``, which
``python -m vidseg.layers.ms_deform_attn.check`` reports. ``VIDSEG_NO_EXT=1`` skips the extension entirely.
"""
import json
import os
import shutil
import subprocess
import sys

from setuptools import find_packages, setup
from setuptools.errors import CompileError, ExecError, LinkError, PlatformError

PROJECTS = ["moseg", "ifr", "isvos", "instmove", "instflow"]  # method packages under projects/, discovered by vidseg.plugins via entry points

MSDA_DIR = os.path.join("vidseg", "layers", "ms_deform_attn")
MSDA_CSRC = os.path.join(MSDA_DIR, "csrc")
MSDA_EXT = "vidseg.layers.ms_deform_attn.MultiScaleDeformableAttention"
BUILD_INFO = os.path.join(MSDA_DIR, "build_info.json")
DEFAULT_ARCH_LIST = "8.0;8.6;9.0+PTX"
# Errors a failed compile/link (or torch's pre-build CUDA checks) raise; anything else is a bug and propagates.
BUILD_ERRORS = (CompileError, LinkError, ExecError, PlatformError, subprocess.CalledProcessError, OSError,
                RuntimeError, ValueError)


def _say(msg: str, warn: bool = False) -> None:
    print(f"[vidseg setup] {'WARNING: ' if warn else ''}{msg}", file=sys.stderr if warn else sys.stdout, flush=True)


def _record(variant: str, notes: list[str]) -> None:
    with open(BUILD_INFO, "w", encoding="utf-8") as f:
        json.dump({"variant": variant, "notes": notes}, f, indent=1)


def _locate_cuda_home() -> None:
    """Set ``CUDA_HOME`` from nvcc's own install dir when unset (torch would guess ``dirname(dirname(which
    nvcc))``, wrong when nvcc on PATH is a wrapper script)."""
    if os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or shutil.which("nvcc") is None:
        return
    try:
        dry = subprocess.run(["nvcc", "--dryrun", "-c", "-x", "cu", os.devnull], capture_output=True, text=True,
                             timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        _say(f"could not query nvcc for its install dir ({exc}); leaving CUDA_HOME to torch", warn=True)
        return
    for line in (dry.stdout + dry.stderr).splitlines():
        if line.startswith("#$ _HERE_="):
            home = os.path.dirname(line.split("=", 1)[1].strip())
            if os.path.exists(os.path.join(home, "include", "cuda_runtime.h")):
                os.environ["CUDA_HOME"] = home
            return


def _sources(sub: str, suffix: str) -> list[str]:
    folder = os.path.join(MSDA_CSRC, sub)
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(suffix))


def _msda_extension(notes: list[str]) -> tuple[object | None, type | None]:
    """The extension to build (CUDA variant when wanted) and the BuildExtension subclass, or ``(None, None)``."""
    if os.environ.get("VIDSEG_NO_EXT", "0") == "1":
        notes.append("skipped: VIDSEG_NO_EXT=1")
        return None, None
    try:
        import torch
    except ImportError as exc:
        notes.append(f"skipped: torch is not importable at build time ({exc}); install with --no-build-isolation")
        return None, None
    _locate_cuda_home()
    from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

    cxx = ["-O3", "-fopenmp"]
    cpu_sources = [os.path.join(MSDA_CSRC, "vision.cpp")] + _sources("cpu", ".cpp")
    force = os.environ.get("FORCE_CUDA", "0") == "1"
    want_cuda = force or torch.cuda.is_available()
    if not want_cuda:
        notes.append("CUDA kernel not built: no GPU visible and FORCE_CUDA unset")
    elif torch.version.cuda is None:
        notes.append("CUDA kernel not built: this torch is a CPU-only build")
        want_cuda = False
    elif CUDA_HOME is None or not os.path.exists(os.path.join(CUDA_HOME, "bin", "nvcc")):
        notes.append("CUDA kernel not built: no CUDA toolkit found (set CUDA_HOME)")
        want_cuda = False
    if want_cuda and not torch.cuda.is_available() and not os.environ.get("TORCH_CUDA_ARCH_LIST"):
        os.environ["TORCH_CUDA_ARCH_LIST"] = DEFAULT_ARCH_LIST
    if want_cuda:
        ext = CUDAExtension(MSDA_EXT, cpu_sources + _sources("cuda", ".cu"), define_macros=[("WITH_CUDA", None)],
                            extra_compile_args={"cxx": cxx, "nvcc": ["-O3"]}, extra_link_args=["-fopenmp"],
                            optional=True)
    else:
        ext = CppExtension(MSDA_EXT, cpu_sources, extra_compile_args={"cxx": cxx}, extra_link_args=["-fopenmp"],
                           optional=True)
    ext.vidseg_cuda = want_cuda

    class BuildMSDA(BuildExtension):
        """CPU+CUDA, else CPU only, else no extension (pure-Python reference); never fails the install."""

        def build_extensions(self) -> None:
            try:
                super().build_extensions()
                return
            except BUILD_ERRORS as exc:  # torch's pre-build checks (compiler ABI, CUDA version)
                failure = exc
            if any(getattr(e, "vidseg_cuda", False) for e in self.extensions):
                _say(f"CUDA build setup failed ({failure}); building the CPU kernel only", warn=True)
                notes.append(f"CUDA kernel not built: {failure}")
                for e in self.extensions:
                    self._to_cpu_only(e)
                try:
                    super().build_extensions()
                    return
                except BUILD_ERRORS as exc:
                    failure = exc
            self._give_up(failure)

        def build_extension(self, ext) -> None:
            if getattr(ext, "vidseg_cuda", False):
                try:
                    _say(f"building {ext.name} (cpu+cuda)")
                    super().build_extension(ext)
                    _record("cpu+cuda", notes)
                    return
                except BUILD_ERRORS as exc:
                    _say(f"CUDA build of {ext.name} failed ({exc}); retrying with the CPU kernel only", warn=True)
                    notes.append(f"CUDA kernel build failed: {exc}")
                self._to_cpu_only(ext)
            try:
                _say(f"building {ext.name} (cpu)")
                super().build_extension(ext)
                _record("cpu", notes)
            except BUILD_ERRORS as exc:
                self._give_up(exc)

        @staticmethod
        def _to_cpu_only(ext) -> None:
            ref = CppExtension(ext.name, cpu_sources)
            ext.sources = list(cpu_sources)
            ext.libraries, ext.library_dirs = ref.libraries, ref.library_dirs
            ext.define_macros = [m for m in ext.define_macros if m[0] != "WITH_CUDA"]
            if isinstance(ext.extra_compile_args, dict):
                ext.extra_compile_args = {"cxx": ext.extra_compile_args.get("cxx", list(cxx))}
            ext.vidseg_cuda = False

        @staticmethod
        def _give_up(exc: BaseException) -> None:
            """Leave the (optional) extension unbuilt: setuptools then skips it and vidseg runs the reference."""
            _say(f"build of the MSDA extension failed ({exc}); vidseg installs without it and uses the slow "
                 "pure-Python grid_sample reference", warn=True)
            notes.append(f"extension build failed: {exc}")
            _record("none", notes)

    return ext, BuildMSDA


def _extension_kwargs() -> dict:
    notes: list[str] = []
    ext, build_cls = _msda_extension(notes)
    if ext is None:  # nothing is built, so build_info.json (written by build_ext only) is left alone
        _say(f"{notes[-1]}; vidseg installs without the MSDA extension (pure-Python reference)", warn=True)
        return {}
    return {"ext_modules": [ext], "cmdclass": {"build_ext": build_cls}}


setup(
    name="vidseg",
    version="0.1.0",
    description="Detectron2 extension: five video-segmentation methods behind one entry point",
    python_requires=">=3.10",
    packages=find_packages(include=["vidseg", "vidseg.*", "projects", "projects.*"]),
    package_data={"vidseg": ["layers/ms_deform_attn/csrc/**/*"]},
    entry_points={"vidseg.projects": [f"{p} = projects.{p}" for p in PROJECTS]},
    **_extension_kwargs(),
)
