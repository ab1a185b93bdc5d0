"""Chat Lab: `streamlit run app.py`.

This file is the server: Streamlit finds the ``app = st.App(...)`` below by reading this
file, and serves on one port the pages (``chat_lab.py``: the navigation over ``app_pages/``)
and the streaming chat API (``chatlib.api.chat_endpoint``: ``POST /chat``), through the
ASGI middleware listed here.

``AppTest.from_file("app.py")``, the usual way to test a Streamlit app, runs this file as a
page script: then it draws the pages too (``chat_lab.py``), so such a test sees the app, not
an empty page. ``streamlit run`` only imports this file for ``app``: no script is running then.
"""

import runpy
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from chatlib.api.chat_endpoint import ApiConfig, api_routes
from chatlib.engine.client import engine_enabled, shared_client
from ui.auth import sign_in_configured
from ui.websocket_repair import RepairLoneSurrogates

# With sign-in set up, the API answers only to CHATLAB_API_TOKEN's bearer (403 without one).
config = ApiConfig.from_env(closed_without_token=sign_in_configured())
middleware = [Middleware(RepairLoneSurrogates)]
if config.cors_origins:  # other sites' pages allowed to call POST /chat (CHATLAB_API_CORS_ORIGINS)
    middleware.append(Middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                                 allow_methods=["POST"], allow_headers=["*"]))

# The SSE API (POST /chat, and its demo page at /chat/demo) on the UI's own port.
app = st.App("chat_lab.py", routes=api_routes(config), middleware=middleware)

# uvicorn's import of `app` has no script context; a page script's run (AppTest) has one.
if get_script_run_ctx(suppress_warning=True) is None and engine_enabled():
    # The engine (streams read and timed apart from this process) starts with the server,
    # so the first answer does not wait for it.
    shared_client().start()

# A page script's run (AppTest) has a script context; uvicorn's import of `app` has none.
if get_script_run_ctx(suppress_warning=True) is not None:
    runpy.run_path(str(Path(__file__).with_name("chat_lab.py")))
