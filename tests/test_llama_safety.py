"""The embedded model cannot crash the app on an AMX CPU: llama-cpp-python is built portably
(``scripts/ensure-llama-cpp``), and every model load goes through the guard that keeps a
native build's AMX kernels off (``chatlib.providers.llama_safety``).

The build check fails on this machine kind with or without AMX: a native build on a CPU with
AVX-512 (and no AMX) reports ``AVX512 = 1``, which the portable build never has."""

from __future__ import annotations

import platform
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatlib.providers import llama_safety
from chatlib.providers.llama_safety import (
    build_cpu_features,
    build_has_amx_kernels,
    extra_buffer_types_allowed,
    guard_model_loads,
)
from chatlib.providers.local import LocalProvider, default_gguf_path, load_llama
from chatlib.core.types import Message, Settings, TextDelta

NATIVE_AMX_BUILD = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | "
                    "BMI2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | "
                    "OPENMP = 1 | REPACK = 1 | ")
PORTABLE_BUILD = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | "
                  "BMI2 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | ")


def _cpu_has_avx2() -> bool:
    try:
        return " avx2" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def test_the_loaded_library_was_built_portably():
    features = build_cpu_features()
    # An x86-64 CPU with AVX2 gets the AVX2 baseline; one without, the SSE4.2 build.
    if platform.machine() == "x86_64" and _cpu_has_avx2():
        assert "AVX2" in features, llama_safety.system_info()
    native_only = sorted(f for f in features if f.startswith(("AMX", "AVX512", "AVX_VNNI")))
    assert native_only == [], (
        f"llama-cpp-python was built for this CPU ({native_only}), not portably: "
        "rebuild it with `bash scripts/ensure-llama-cpp .venv/bin/python`")


def test_amx_kernels_turn_the_extra_buffer_types_off_unless_told():
    assert build_has_amx_kernels(NATIVE_AMX_BUILD)
    assert not build_has_amx_kernels(PORTABLE_BUILD)
    assert not extra_buffer_types_allowed(NATIVE_AMX_BUILD, env={})
    assert extra_buffer_types_allowed(PORTABLE_BUILD, env={})
    # A user who built with a compiler that gets AMX right may say so; anyone may turn it off.
    assert extra_buffer_types_allowed(NATIVE_AMX_BUILD, env={"CHATLAB_LLAMA_EXTRA_BUFTS": "1"})
    assert not extra_buffer_types_allowed(PORTABLE_BUILD, env={"CHATLAB_LLAMA_EXTRA_BUFTS": "0"})


@pytest.fixture
def guard_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    yield monkeypatch
    monkeypatch.delenv("CHATLAB_LLAMA_EXTRA_BUFTS", raising=False)
    guard_model_loads()  # back to what this build allows


@pytest.mark.model
def test_every_embedded_model_load_goes_through_the_guard(guard_env):
    gguf = default_gguf_path()
    assert gguf is not None and gguf.is_file()
    # As on a native AMX build: load_llama must load with the extra buffer types off...
    guard_env.setenv("CHATLAB_LLAMA_EXTRA_BUFTS", "0")
    guarded = LocalProvider(load_llama(gguf, n_ctx=512), gguf)
    assert guarded._llm.model_params.use_extra_bufts is False
    # ...and the model still answers.
    events = list(guarded.stream([Message("user", "Say hi.")],
                                 Settings(model=guarded.model_name, max_tokens=4,
                                          temperature=0.0)))
    assert any(isinstance(e, TextDelta) and e.text for e in events)
    # On this portable build nothing needs guarding: the extra buffer types stay on.
    guard_env.delenv("CHATLAB_LLAMA_EXTRA_BUFTS")
    assert load_llama(gguf, n_ctx=512).model_params.use_extra_bufts is True
