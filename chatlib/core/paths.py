"""Where Chat Lab keeps its files: ``CHATLAB_DATA_DIR``, else the user's data dir."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["data_dir"]


def data_dir() -> Path:
    path = Path(os.environ.get("CHATLAB_DATA_DIR") or platformdirs.user_data_dir("chatlab"))
    path.mkdir(parents=True, exist_ok=True)
    return path
