"""Chat Lab: `streamlit run app.py`.

This file is the server: Streamlit finds the ``app = st.App(...)`` below by reading this
file, and serves on one port the pages (``chat_lab.py``: the navigation over ``app_pages/``)
and the streaming chat API (``chatlib.api``: ``POST /chat``), through the ASGI middleware
listed here.
"""

import os

import streamlit as st
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from chatlib.api import ApiConfig, api_routes
from ui.auth import sign_in_configured
from ui.websocket_repair import RepairLoneSurrogates

middleware = [Middleware(RepairLoneSurrogates)]
if os.environ.get("CHATLAB_API_CORS_ORIGINS"):  # other origins allowed to call POST /chat
    origins = [o.strip() for o in os.environ["CHATLAB_API_CORS_ORIGINS"].split(",")]
    middleware.append(Middleware(CORSMiddleware, allow_origins=origins,
                                 allow_methods=["POST"], allow_headers=["*"]))

# The SSE API (POST /chat, and its demo page at /chat/demo) on the UI's own port.
# With sign-in set up, the API answers only to CHATLAB_API_TOKEN's bearer (403 without one).
config = ApiConfig.from_env(closed_without_token=sign_in_configured())
app = st.App("chat_lab.py", routes=api_routes(config), middleware=middleware)
