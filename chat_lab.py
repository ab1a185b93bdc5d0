"""Chat Lab's pages (served by `streamlit run app.py`, see app.py): this script only sets up
the navigation.

The page files live in app_pages/, not pages/: Streamlit treats a pages/ folder as the
legacy multipage layout until some session has run st.navigation, so a first visit straight
to /stats on a fresh server would skip this file (no wide layout, wrong navigation)."""

import streamlit as st

from ui.auth import account_box, require_sign_in

st.set_page_config(page_title="Chat Lab", page_icon="💬", layout="wide")
require_sign_in()  # with sign-in set up, nothing below runs for a visitor who has not

pages = [
    st.Page("app_pages/chat.py", title="Chat", icon="💬", default=True),
    st.Page("app_pages/compare.py", title="Compare", icon="⚖️"),
    st.Page("app_pages/load.py", title="Load", icon="📈"),
    st.Page("app_pages/stats.py", title="Stats", icon="📊"),
    st.Page("app_pages/leaderboard.py", title="Leaderboard", icon="🏆"),
    # Reached by its link only (Compare's and Load's "Present"), not from the menu.
    st.Page("app_pages/present.py", title="Present", icon="🖥️", url_path="present",
            visibility="hidden"),
]
page = st.navigation(pages)
account_box()
page.run()
