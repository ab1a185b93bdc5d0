"""Chat Lab for a team, in a real browser: two replicas (two ``streamlit run app.py``
processes on two ports) share one real PostgreSQL database, and sign-in goes through a real
OpenID Connect provider (``oidc-provider-mock``) that the test starts.

- A chat started on one replica is listed and reopens on the other; each replica's Stats page
  counts the runs the other recorded.
- Two users sign in: neither sees the other's chats or runs, even by the chat's URL; a
  signed-out visitor gets the sign-in page and no data; sign-out works; an admin's Stats
  page counts everyone's runs.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from chatlib.core.conversation import Chat, ChatTurn
from chatlib.providers.scripted import SCRIPTS_ENV
from chatlib.runs.record import RunRecord
from chatlib.store import ChatStore, RunFilter, RunStore
from testkit.app_server import AppServer
from testkit.browser import chat_messages, exception_texts, send_prompt, use_scripted_model, \
    wait_idle
from testkit.oidc import oidc_provider, set_user, write_auth_secrets

pytestmark = pytest.mark.browser

USERS = {"alice": "alice@example.com", "bob": "bob@example.com", "carol": "carol@example.com"}
SCRIPTS = {"team-instant": {"text": "Shared answer from the team store.", "chunk_chars": 8},
           # About 15 s: still arriving when the other replica opens the chat.
           "team-slow": {"text": "Slowly arriving on replica one. " * 24 + "The end.",
                         "chunk_chars": 5, "first_delay_s": 0.1, "gap_s": 0.1}}


@pytest.fixture(scope="module")
def team(browser, tmp_path_factory, postgres_server) -> Iterator[dict[str, Any]]:
    """Two signed-in replicas on one PostgreSQL database, and the provider they trust."""
    data = tmp_path_factory.mktemp("team")
    database = postgres_server.create_database("team_replicas")
    (data / "scripts.json").write_text(json.dumps(SCRIPTS))
    with oidc_provider() as provider:
        for sub, email in USERS.items():
            set_user(provider, sub, email=email, name=sub.title())
        replicas = []
        try:
            for i in range(2):
                env = {"CHATLAB_DATA_DIR": str(data / f"replica{i}"),
                       "CHATLAB_DATABASE_URL": database, "CHATLAB_ADMINS": USERS["carol"],
                       SCRIPTS_ENV: str(data / "scripts.json")}
                server = AppServer(env)
                secrets = write_auth_secrets(data / f"replica{i}" / "secrets.toml", provider,
                                             server.port)
                server.args = ("--secrets.files", str(secrets))
                replicas.append(server.start())
            yield {"replicas": replicas, "store": RunStore(database), "provider": provider}
        finally:
            for server in replicas:
                server.stop()


def new_page(browser) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def sign_in(page, url: str, sub: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector('input[name="sub"]')
    page.fill('input[name="sub"]', sub)
    page.get_by_role("button", name="Authorize", exact=True).click()
    sidebar = page.locator("[data-testid='stSidebar']")
    expect(sidebar).to_contain_text(f"Signed in as {USERS[sub]}", timeout=60_000)
    wait_idle(page, 60_000)


def ask(page, prompt: str, model: str = "team-instant", answer: str = "Shared answer") -> str:
    """Send ``prompt`` with a scripted model; the chat's id (from the URL) once ``answer``
    shows."""
    use_scripted_model(page, model)
    send_prompt(page, prompt)
    expect(chat_messages(page).last).to_contain_text(answer, timeout=60_000)
    match = re.search(r"[?&]chat=([\w-]+)", page.url)
    assert match, page.url
    return match.group(1)


def stats_text(page, url: str) -> str:
    page.goto(url + "/stats")
    main = page.locator("[data-testid='stMain']")
    expect(main).to_contain_text(re.compile("runs? match(es)? the filters|No runs recorded yet"),
                                 timeout=60_000)
    wait_idle(page)
    return main.inner_text()


def test_a_chat_started_on_one_replica_reopens_on_the_other(team, browser):
    first, second = (r.url for r in team["replicas"])
    page, other = new_page(browser), new_page(browser)
    try:
        # The same user on both replicas. Behind a load balancer both would have one
        # address; here each has its own, so its own sign-in (and its own browser context:
        # Streamlit's login cookie is one per host, whatever the port).
        sign_in(page, first, "alice")
        sign_in(other, second, "alice")
        chat_id = ask(page, "Asked on replica one", "team-slow", "Slowly arriving")
        # Opened on the other replica while the answer still arrives on the first: shown as
        # stored, followed to its end.
        other.goto(f"{second}/?chat={chat_id}")
        expect(chat_messages(other, "user").first).to_contain_text("Asked on replica one")
        expect(other.get_by_text("Still arriving on another server")).to_be_visible()
        expect(chat_messages(other).first).to_contain_text("The end.", timeout=60_000)
        expect(other.get_by_text("Still arriving on another server")).to_have_count(0)
        expect(chat_messages(other).first).to_contain_text("team-slow")  # its figures line
        sidebar = other.locator("[data-testid='stSidebar']")
        expect(sidebar.get_by_role("button", name="Asked on replica one")).to_be_visible()
        page, other = other, page
        # An answer on the second replica; each replica's Stats page counts both runs.
        ask(page, "Asked on replica two")
        assert "2 runs match the filters." in stats_text(other, first)
        assert "2 runs match the filters." in stats_text(page, second)
        assert exception_texts(page) == [] and exception_texts(other) == []
    finally:
        page.context.close()
        other.context.close()
    stored = team["store"].runs(RunFilter(models=("team-slow", "team-instant")))
    assert sorted(stored.prompt) == ["Asked on replica one", "Asked on replica two"]
    assert set(stored.owner) == {USERS["alice"]}


def test_each_user_sees_only_their_own_data(team, browser):
    first, second = (r.url for r in team["replicas"])
    # Alice's data, as her sessions would have stored it.
    alice = team["store"].for_owner(USERS["alice"])
    alice_chat = "alice-private-chat"
    ChatStore(alice).create(Chat(alice_chat, "Alice's private chat",
                                 [ChatTurn("user", "Asked on replica zero"),
                                  ChatTurn("assistant", "Shared answer, hers")]))
    alice.add(RunRecord(provider="scripted", model="team-instant", settings={}, status="ok",
                        created_at=time.time(), chunk_offsets_s=[0.1], chunk_texts=["hers"],
                        prompt="Asked on replica zero"))
    visitor = new_page(browser)
    bob = new_page(browser)
    carol = new_page(browser)
    try:
        # A signed-out visitor: the sign-in page, on every page and with a chat's URL.
        for url in (first, f"{second}/stats", f"{first}/?chat={alice_chat}"):
            visitor.goto(url)
            expect(visitor.get_by_role("button", name="Sign in")).to_be_visible()
            wait_idle(visitor)
            body = visitor.locator("[data-testid='stApp']").inner_text()
            assert "Asked on replica" not in body and "Shared answer" not in body
            assert visitor.locator("[data-testid='stChatInputTextArea']").count() == 0

        sign_in(bob, second, "bob")
        assert "No runs recorded yet" in stats_text(bob, second)  # alice's two are not his
        bob.goto(f"{second}/?chat={alice_chat}")  # her chat's URL shows him nothing of it
        wait_idle(bob, 60_000)
        expect(bob.locator("[data-testid='stApp']")).to_contain_text("That chat no longer exists")
        assert "Asked on replica" not in bob.locator("[data-testid='stApp']").inner_text()
        bob_chat = ask(bob, "Bob's own question")
        sidebar = bob.locator("[data-testid='stSidebar']")
        expect(sidebar.get_by_role("button", name="Bob's own question")).to_be_visible()
        expect(sidebar.get_by_role("button", name="Asked on replica one")).to_have_count(0)
        assert "1 run matches the filters." in stats_text(bob, second)

        # An admin's Stats page counts everyone's runs; her chat list is still her own.
        sign_in(carol, first, "carol")
        assert f"{team['store'].count()} runs match the filters." in stats_text(carol, first)
        carol.goto(f"{first}/?chat={bob_chat}")
        wait_idle(carol, 60_000)
        expect(carol.locator("[data-testid='stApp']")).to_contain_text("no longer exists")
        assert "Bob's own question" not in carol.locator("[data-testid='stApp']").inner_text()

        # Sign-out: back to the sign-in page, and the data is gone from the page.
        bob.goto(second)
        wait_idle(bob, 60_000)
        bob.locator("[data-testid='stSidebar']").get_by_role("button", name="Sign out").click()
        bob.get_by_role("button", name="End session").click()
        expect(bob.get_by_role("button", name="Sign in")).to_be_visible(timeout=60_000)
        assert "Bob's own question" not in bob.locator("[data-testid='stApp']").inner_text()
        for page in (visitor, bob, carol):
            assert exception_texts(page) == []
    finally:
        for page in (visitor, bob, carol):
            page.context.close()
    bobs = team["store"].for_owner(USERS["bob"]).runs()
    assert list(bobs.prompt) == ["Bob's own question"]


def test_with_sign_in_set_up_the_api_needs_its_token(team):
    """The SSE API has no browser session to sign in: without CHATLAB_API_TOKEN it would
    spend the server's keys for anyone who reaches the port, so it refuses."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", team["replicas"][0].port, timeout=60)
    try:
        conn.request("POST", "/chat", body=json.dumps(
            {"message": "hi", "provider": "scripted", "model": "team-instant"}),
            headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 403
        assert "CHATLAB_API_TOKEN" in json.loads(response.read())["error"]
    finally:
        conn.close()
    assert team["store"].count(RunFilter(pages=("api",))) == 0
