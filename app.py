"""Chat Lab: `streamlit run app.py`.

This file is the server: Streamlit finds the ``app = st.App(...)`` below by reading this
file, and serves the pages (``chat_lab.py``: the navigation over ``app_pages/``) on one port,
through the ASGI middleware listed here. Custom HTTP routes join ``routes=`` here.
"""

import streamlit as st
from starlette.middleware import Middleware

from ui.websocket_repair import RepairLoneSurrogates

app = st.App("chat_lab.py", middleware=[Middleware(RepairLoneSurrogates)])
