"""AppTest of the Load page with its offline defaults: two scripted servers, one with 4 slots
(demo-busy: a fifth stream waits for a whole answer) and one without (demo-fast). A sweep
runs through the real generator (worker processes), and the page reads each knee in words,
draws the curve and the table, offers the downloads, and reopens the run from its URL.

No timing is asserted: on a loaded machine a level may be flagged client-bound (and then not
counted); what cannot move is that no level above demo-busy's 4 slots holds its TTFT SLO."""

from __future__ import annotations

import time

import pytest

from chatlib.load.run import LoadView
from chatlib.store.loads import LoadStore
from tests.clocks import HANG_GUARD_S


@pytest.fixture
def load_page(app_test):
    at = app_test()
    at.switch_page("app_pages/load.py").run()
    assert not at.exception
    return at


def _words(at) -> list[str]:
    """The knees, one line per target, as the page says them."""
    return [m.value for m in at.markdown if m.value.startswith(("- A (", "- B ("))]


def _run_until_done(at) -> None:
    deadline = time.monotonic() + HANG_GUARD_S * 4
    while time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
        assert not at.exception
        if not any(b.key == "stop_load" for b in at.button):
            return
    pytest.fail("the load run did not end")


def test_a_sweep_of_two_scripted_servers_finds_each_knee_and_says_it(load_page, store):
    at = load_page
    assert at.sidebar.selectbox(key="load0_model").value == "demo-busy"
    assert at.sidebar.selectbox(key="load1_model").value == "demo-fast"
    at.sidebar.number_input(key="load_seconds").set_value(1)
    at.sidebar.number_input(key="load_max").set_value(8)
    at.sidebar.text_area(key="load_slos").set_value("p99 ttft <= 400ms")
    at.button(key="load_start").click().run()
    assert not at.exception and not at.error
    load_id = at.query_params["load"]
    load_id = load_id if isinstance(load_id, str) else load_id[0]
    _run_until_done(at)

    view = LoadView.from_stored(LoadStore(store).get(load_id))
    assert view.ended_at is not None and not view.stopped
    busy = view.target_results("A")
    clean = [r for r in busy if not r.client_bound]
    # Up to its 4 slots nothing queues, so TTFT is 0.1 s; past them a stream waits behind a
    # whole answer (0.6 s): a level measured cleanly holds exactly when it is 4 or less.
    assert all(r.meets_slos == (r.level <= 4) for r in clean)
    knees = {k.label: k for k in view.knees()}
    assert knees["A"].level == max((r.level for r in clean if r.level <= 4), default=None)
    if not any(r.client_bound for r in busy):  # the sweep went past 4 and came back to it
        assert knees["A"].level == 4 and {5, 8} <= {r.level for r in busy}
    # The page says each knee in words, the highest first.
    words = _words(at)
    assert sorted(w[:3] for w in words) == ["- A", "- B"]
    assert [w[2:] for w in words if w.startswith("- A")] == [knees["A"].words]
    assert len(at.get("vega_lite_chart")) == 2, "the latency curve and goodput are drawn"
    assert at.dataframe and len(at.dataframe[0].value) == len(view.results)
    assert {b.proto.label for b in at.get("download_button")} >= {"Report (HTML)",
                                                             "Every request (JSON)"}
    # Its requests are runs of page "load" in the store (Stats can filter them).
    assert set(store.runs()["page"]) == {"load"}

    # The URL opens it again in a new session (as on another replica), as it ended.
    again = at.__class__.from_file(at._script_path, default_timeout=60)
    again.query_params["load"] = load_id
    again.switch_page("app_pages/load.py").run()
    assert not again.exception
    assert _words(again) == words

    # Presented full screen: the knees in large type and the chart, nothing to set.
    room = at.__class__.from_file(at._script_path, default_timeout=60)
    room.query_params["load"] = load_id
    room.switch_page("app_pages/present.py").run()
    assert not room.exception
    assert sorted(s.value for s in room.success) == sorted(w[2:] for w in words)
    assert room.get("vega_lite_chart") and not room.sidebar.selectbox


def test_bad_slos_and_levels_say_what_is_expected(load_page):
    at = load_page
    at.sidebar.text_area(key="load_slos").set_value("p99 speed <= fast").run()
    assert not at.exception
    assert any("expected e.g. 'p99 ttft <= 200ms'" in e.value for e in at.error)
    assert at.button(key="load_start").disabled
    at.sidebar.text_area(key="load_slos").set_value("p99 ttft <= 1s")
    at.sidebar.radio(key="load_mode").set_value("concurrency").run()
    at.sidebar.text_input(key="load_levels").set_value("1, two, 4").run()
    assert not at.exception and at.error
    at.sidebar.text_input(key="load_levels").set_value("1, 2.5").run()
    assert any("whole numbers" in e.value for e in at.error)


def test_a_paid_target_needs_a_cap_a_confirmation_and_the_limit_lifted(load_page, monkeypatch):
    """Nothing is sent here: the page refuses before any request (the key is a dummy and
    the default OpenAI URL is never reached)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-dummy-never-sent-0123456789")
    at = load_page
    at.sidebar.number_input(key="load_count").set_value(1)
    at.sidebar.selectbox(key="load0_provider").set_value("openai").run()
    assert not at.exception
    at.sidebar.radio(key="load_mode").set_value("concurrency").run()
    assert any("set “At most requests per level”" in e.value for e in at.error)
    at.sidebar.number_input(key="load_cap").set_value(10).run()
    warning = next(w.value for w in at.warning if "paid APIs" in w.value)
    # 5 levels (1, 2, 4, 8, 16) × 10 requests, and one warm-up: at most 51 requests.
    assert "at most 51 requests" in warning and "6,528 input" in warning
    assert any("Lift my limit" in c.label for c in at.checkbox)
    assert any("would cut every level short" in e.value for e in at.error)
    at.checkbox(key="load_lift").check().run()
    assert not any("cut every level short" in e.value for e in at.error)
    at.button(key="load_start").click().run()  # not confirmed: nothing starts
    assert any("Tick “Send them”" in e.value for e in at.error)
    assert "load" not in at.query_params
