"""Which GPUs the installed llama.cpp build can use, and the command that rebuilds it for one.

The flags are those of llama-cpp-python's README (0.3.36): ``CMAKE_ARGS="-DGGML_CUDA=on"``,
``-DGGML_METAL=on``, ``-DGGML_HIP=on``, ``-DGGML_VULKAN=on``, with ``--force-reinstall
--no-cache-dir`` so pip rebuilds instead of reusing the cached CPU-only wheel. For HIP the gfx
target goes in ``GPU_TARGETS`` (llama.cpp's ggml-hip/CMakeLists.txt also accepts the older
``AMDGPU_TARGETS``; docs/build.md uses ``-DGPU_TARGETS=gfx1030``).
"""

from __future__ import annotations

from workbench.hardware.model import GpuInfo, LlamaBuild, backend_family

# GPU vendor -> the ggml backend families that can drive it.
USABLE_BACKENDS = {
    "nvidia": {"cuda", "vulkan"},
    "amd": {"rocm", "vulkan"},
    "apple": {"metal"},
    "intel": {"sycl", "vulkan"},
}
# GPU vendor -> the build llama-cpp-python documents for it.
PREFERRED_BACKEND = {"nvidia": "cuda", "amd": "hip", "apple": "metal", "intel": "vulkan"}
CMAKE_FLAGS = {
    "cuda": "-DGGML_CUDA=on",
    "metal": "-DGGML_METAL=on",
    "hip": "-DGGML_HIP=on",
    "vulkan": "-DGGML_VULKAN=on",
}


def reinstall_command(backend: str, version: str | None, *, gfx_arch: str | None = None) -> str:
    """The pip command that rebuilds llama-cpp-python (same version) with ``backend``."""
    flags = CMAKE_FLAGS[backend]
    if backend == "hip" and gfx_arch:
        flags += f" -DGPU_TARGETS={gfx_arch}"
    package = f"llama-cpp-python=={version}" if version else "llama-cpp-python"
    return f'CMAKE_ARGS="{flags}" pip install --force-reinstall --no-cache-dir {package}'


def gpu_command(gpu: GpuInfo, version: str | None) -> str | None:
    """The rebuild command for this GPU's vendor, or None for a vendor without one."""
    backend = PREFERRED_BACKEND.get(gpu.vendor)
    if backend is None:
        return None
    return reinstall_command(backend, version, gfx_arch=gpu.arch if backend == "hip" else None)


def llama_can_use(gpu: GpuInfo, build: LlamaBuild) -> bool | None:
    """Whether the build has a GPU backend for this GPU's vendor; None when unknown."""
    if not build.probe_ok:
        return None
    return bool(build.gpu_backends() & USABLE_BACKENDS.get(gpu.vendor, set()))


def _metal_working_set(build: LlamaBuild) -> int | None:
    for device in build.devices:
        family = backend_family(device.get("backend") or device.get("name") or "")
        total = device.get("memory_total_bytes")
        if family == "metal" and isinstance(total, int) and total > 0:
            return total
    return None


def annotate(gpus: list[GpuInfo], build: LlamaBuild) -> None:
    """Fill ``llama_usable`` and, for an unusable GPU, ``reinstall_command``.

    On Apple Silicon with a Metal build, the probe's Metal device memory is llama.cpp's own
    ``recommendedMaxWorkingSetSize`` and replaces the estimate.
    """
    for gpu in gpus:
        gpu.llama_usable = llama_can_use(gpu, build)
        if gpu.llama_usable is False:
            gpu.reinstall_command = gpu_command(gpu, build.version)
        working_set = _metal_working_set(build) if gpu.vendor == "apple" else None
        if working_set is not None:
            gpu.vram_total_bytes = working_set
            gpu.estimated = [f for f in gpu.estimated if f != "vram_total_bytes"]
            gpu.extra["metal_working_set_source"] = "llama.cpp Metal device (probe)"
            if gpu.vram_free_bytes is not None:
                gpu.vram_free_bytes = min(gpu.vram_free_bytes, working_set)
                gpu.vram_used_bytes = working_set - gpu.vram_free_bytes
