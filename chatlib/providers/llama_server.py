"""llama-cpp-python's own OpenAI-compatible server, with Chat Lab's guard on its model load.

``python -m chatlib.providers.llama_server --model FILE.gguf --host 127.0.0.1 --port P`` takes
the arguments of ``python -m llama_cpp.server`` and serves the same API; the only difference
is ``guard_model_loads`` first, so a native build with AMX kernels cannot segfault the server
(see ``chatlib.providers.llama_safety``).
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    from llama_cpp.server.__main__ import main as serve

    from chatlib.providers.llama_safety import guard_model_loads

    allowed = guard_model_loads()
    # Said once at start, so an operator (and the tests) can see the guard is on this load.
    print(f"chatlib: llama.cpp extra buffer types {'on' if allowed else 'off'}", file=sys.stderr,
          flush=True)
    serve()


if __name__ == "__main__":
    main()
