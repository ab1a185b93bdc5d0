"""Number fields (``ui.inputs.bounded_int``): the value used is the one the field shows, or a
warning under the field says which value is used: out of range, fractional, far beyond what
JavaScript holds as an integer. tests/browser/test_number_fields_browser.py types into the
real field; here AppTest sends the values the browser would send."""

from __future__ import annotations

import pytest
from streamlit.proto.NumberInput_pb2 import NumberInput as NumberInputProto
from streamlit.testing.v1 import AppTest


def _field_script() -> None:
    import streamlit as st

    from ui.inputs import bounded_int

    used = bounded_int(st.container(), "Max output tokens", 1, 32_000, 256, step=64, key="n")
    st.markdown(f"used={used!r}")


@pytest.fixture
def field() -> AppTest:
    at = AppTest.from_function(_field_script, default_timeout=30).run()
    assert not at.exception
    return at


def used(at: AppTest) -> str:
    return at.markdown[-1].value


def warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]


def test_the_field_is_read_as_a_float_so_the_browser_parses_1e9_whole():
    # The browser reads an int-typed number_input with parseInt ("1e9" -> 1) and refuses,
    # without a word to Python, an integer beyond 2**53; a float-typed one is read with
    # parseFloat.
    at = AppTest.from_function(_field_script, default_timeout=30).run()
    proto = at.number_input(key="n").proto
    assert proto.data_type == NumberInputProto.FLOAT
    assert proto.format == "%.0f" and proto.step == 64
    assert used(at) == "used=256" and warnings(at) == []


@pytest.mark.parametrize("typed, says, value", [
    (1e9, "Max output tokens: 1,000,000,000 is out of range (1 to 32,000); using 32,000.",
     32_000),
    (999999999999999999999,
     "Max output tokens: 1e+21 is out of range (1 to 32,000); using 32,000.", 32_000),
    (-5, "Max output tokens: -5 is out of range (1 to 32,000); using 1.", 1),
    (0.4, "Max output tokens: 0.4 is out of range (1 to 32,000); using 1.", 1),
    # The field shows 2.5 as "3" once it loses focus ("%.0f"): the value used says the same.
    (2.5, "Max output tokens: 2.5 is not a whole number; using 3.", 3),
    (100.2, "Max output tokens: 100.2 is not a whole number; using 100.", 100),
    (32_000.4, "Max output tokens: 32,000.4 is not a whole number; using 32,000.", 32_000),
])
def test_a_value_not_used_as_typed_is_said_with_the_value_used(field, typed, says, value):
    field.number_input(key="n").set_value(typed).run()
    assert not field.exception
    assert warnings(field) == [says]
    assert used(field) == f"used={value!r}"


def test_a_whole_value_in_range_is_used_as_is_without_a_word(field):
    field.number_input(key="n").set_value(1e3).run()
    assert used(field) == "used=1000" and warnings(field) == []
    field.number_input(key="n").set_value(32_000).run()
    assert used(field) == "used=32000" and warnings(field) == []


def test_the_paid_limit_keeps_the_value_its_field_says_it_uses(app_test, monkeypatch):
    # The limit is copied out of its widget by a callback (it holds on pages that do not
    # draw the field): the copy is the value the warning names, not int() of the float.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fields-0123456789abcdef")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)  # OpenAI's own API: paid
    at = app_test().run()
    at.sidebar.selectbox(key="provider").set_value("openai").run()  # the field is for it
    at.sidebar.number_input(key="paid_rpm").set_value(2.5).run()
    assert not at.exception
    assert "Paid requests per minute (0 = no limit): 2.5 is not a whole number; using 3." \
        in [w.value for w in at.sidebar.warning]
    assert at.session_state["_chatlab_paid_per_minute"] == 3
    at.sidebar.number_input(key="paid_rpm").set_value(1e9).run()
    assert at.session_state["_chatlab_paid_per_minute"] == 1000
