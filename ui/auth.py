"""Sign-in: who is asking, when the app is set up for a team.

With an ``[auth]`` section in ``.streamlit/secrets.toml`` (OIDC: Streamlit's ``st.login``),
every page asks a visitor to sign in first (``require_sign_in``, run by ``chat_lab.py`` before
the navigation, so no page, no store and no key is reached before), and the stores are scoped
to the signed-in user (``owner``): each user sees their own chats, comparisons and runs.
``CHATLAB_ADMINS`` (comma-separated e-mail addresses or subjects) names users whose Stats page
counts everyone's runs. Without ``[auth]`` the app is single-user, as it always was, and
nothing here shows.

A user is known by the e-mail address the provider vouches for, else by its subject.
"""

from __future__ import annotations

import os

import streamlit as st

__all__ = ["sign_in_configured", "owner", "is_admin", "require_sign_in", "account_box"]


def sign_in_configured() -> bool:
    """Whether ``st.login`` is set up (an ``[auth]`` section in the secrets)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all: Streamlit raises rather than answer "no"
        return False


def owner() -> str | None:
    """Whose data this session reads and writes: the signed-in user, or ``None`` (everyone's)
    when sign-in is not set up."""
    if not sign_in_configured():
        return None
    if not st.user.is_logged_in:
        raise PermissionError("nobody is signed in")  # require_sign_in stops before this
    return str(st.user.get("email") or st.user.get("sub"))


def is_admin() -> bool:
    """Whether this user may see everyone's runs on Stats (``CHATLAB_ADMINS``)."""
    if not sign_in_configured():
        return True  # single-user: everything is theirs
    admins = {a.strip().lower() for a in os.environ.get("CHATLAB_ADMINS", "").split(",")}
    return (owner() or "").lower() in admins - {""}


def require_sign_in() -> None:
    """With sign-in set up and nobody signed in: the sign-in page, and nothing else."""
    if not sign_in_configured() or st.user.is_logged_in:
        return
    st.title("💬 Chat Lab")
    st.write("Sign in to chat with the models, compare them and see your runs.")
    if st.button("Sign in", type="primary", icon="🔑"):
        st.login()
    st.stop()


def account_box() -> None:
    """Who is signed in, and the way out (only when sign-in is set up)."""
    if not sign_in_configured():
        return
    box = st.sidebar.container()
    name = (owner() or "").replace("`", "")
    box.caption(f"Signed in as `{name}`" + (" · admin" if is_admin() else ""))
    if box.button("Sign out", icon="🚪", key="sign_out"):
        st.logout()
