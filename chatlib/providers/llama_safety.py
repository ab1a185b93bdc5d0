"""Loading llama.cpp models without the AMX crash, whatever build of llama-cpp-python is here.

A llama-cpp-python built with ``GGML_NATIVE=ON`` on an Intel CPU with AMX (Sapphire Rapids
and later) holds llama.cpp's AMX kernels, and Debian 12's GCC 12 miscompiles them
(``_tile_loadconfig``'s config stores are optimised away): the first decode segfaults and
ends the whole process, every session with it. ``scripts/ensure-llama-cpp`` builds without
AMX; this module guards a build a user made by hand. The AMX kernels are reached only through
llama.cpp's "extra buffer types", which ``Llama()`` has no argument for, so
``guard_model_loads`` makes ``llama_model_default_params()`` (which every ``Llama()`` calls
for its model parameters) return them switched off, unless the build is known safe:

- the library reports no AMX kernels (``llama_print_system_info()``): nothing to guard, and
  the extra buffer types stay on (CPU repacking of Q4_0/IQ4_NL/Q4_K weights lives there too);
- ``CHATLAB_LLAMA_EXTRA_BUFTS=1`` says a user built with a compiler that gets AMX right
  (GCC 13 or later); ``=0`` turns them off on any build.

Every model load of Chat Lab goes through it: ``load_llama`` (the embedded model) and
``python -m chatlib.providers.llama_server`` (llama-cpp-python's OpenAI-compatible server).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from typing import Any

__all__ = [
    "build_cpu_features", "build_has_amx_kernels", "extra_buffer_types_allowed",
    "guard_model_loads", "system_info",
]

ENV_SWITCH = "CHATLAB_LLAMA_EXTRA_BUFTS"
_GUARD_LOCK = threading.Lock()


def system_info() -> str:
    """What the loaded llama.cpp library says it was built with (``AVX2 = 1 | ...``)."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info()
    return info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)


def build_cpu_features(info: str | None = None) -> set[str]:
    """The CPU features the library's kernels were compiled for, e.g. ``{"AVX2", "FMA"}``."""
    info = system_info() if info is None else info
    return {name for name, on in re.findall(r"([A-Z][A-Z0-9_]*) = (\d+)", info) if on != "0"}


def build_has_amx_kernels(info: str | None = None) -> bool:
    return any(feature.startswith("AMX") for feature in build_cpu_features(info))


def extra_buffer_types_allowed(info: str | None = None,
                               env: Mapping[str, str] | None = None) -> bool:
    """Whether models may load with llama.cpp's extra buffer types (see the module doc)."""
    switch = (os.environ if env is None else env).get(ENV_SWITCH, "").strip()
    if switch in ("0", "1"):
        return switch == "1"
    return not build_has_amx_kernels(info)


def guard_model_loads() -> bool:
    """Make every later ``Llama()`` in this process load safely; returns whether the extra
    buffer types stay allowed. Idempotent and thread-safe."""
    from llama_cpp import llama_cpp as lib

    allowed = extra_buffer_types_allowed()
    with _GUARD_LOCK:
        defaults = lib.llama_model_default_params
        original = getattr(defaults, "__chatlab_original__", defaults)
        if allowed:
            lib.llama_model_default_params = original
            return True

        def guarded_default_params() -> Any:
            params = original()
            params.use_extra_bufts = False
            return params

        guarded_default_params.__chatlab_original__ = original  # type: ignore[attr-defined]
        lib.llama_model_default_params = guarded_default_params
    return False
