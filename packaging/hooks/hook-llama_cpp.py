"""PyInstaller hook for llama-cpp-python: its llama.cpp libraries (libllama, libggml*, libmtmd,
and a GPU backend's where the wheel has one) are loaded with ctypes from ``llama_cpp/lib``
next to the package, which PyInstaller's import analysis cannot see ("Shared library with base
name 'llama' not found", llama-cpp-python #1475, #1565). They go to the same place in the
bundle, under the names ctypes asks for (``libllama.so``) and the names they need each other
by (their sonames, ``libggml.so.0``: they find each other through ``RUNPATH=$ORIGIN``). The
fully versioned copies (``.so.0.25.3``) are the same bytes and are left out."""

import re
from pathlib import Path

from PyInstaller.utils.hooks import collect_data_files, get_package_paths

_, package_dir = get_package_paths("llama_cpp")
_LIB = Path(package_dir) / "lib"
_WANTED = re.compile(r"^(lib)?[\w.-]+?(\.so(\.\d+)?|\.dylib|\.dll)$")

binaries = [(str(path), "llama_cpp/lib") for path in sorted(_LIB.iterdir())
            if path.is_file() and _WANTED.match(path.name)
            and not re.search(r"\.so\.\d+\.\d+", path.name)]
datas = collect_data_files("llama_cpp", includes=["**/*.jinja", "**/*.json"])
excludedimports = ["llama_cpp.server"]  # the OpenAI server of llama-cpp-python: not used
