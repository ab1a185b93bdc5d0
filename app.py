"""Chat Lab: `streamlit run app.py`. The entry point only sets up the pages."""

import streamlit as st

st.set_page_config(page_title="Chat Lab", page_icon="💬", layout="wide")

pages = [
    st.Page("pages/chat.py", title="Chat", icon="💬", default=True),
    st.Page("pages/compare.py", title="Compare", icon="⚖️"),
    st.Page("pages/stats.py", title="Stats", icon="📊"),
]
st.navigation(pages).run()
