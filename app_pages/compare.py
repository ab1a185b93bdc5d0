"""Compare page: one prompt to 2-4 targets at once, streamed side by side with live figures;
repeat-N statistics, blind voting, export. A view of one comparison (``?compare=<id>``):
the one in flight re-attached, or a stored one drawn as it ended."""

import streamlit as st

from chatlib.compare.analysis import MIN_PAIRS
from chatlib.compare.comparison import MAX_TARGETS, SharedSettings, TargetSpec, serial_key
from chatlib.core.text import count_of
from chatlib.core.errors import ProviderError, RateLimitError
from ui.compare_turns import continue_in_chat, forget_comparison, target_overrides
from ui.compare_view import (
    current_comparison, repeat_all, show_columns, show_comparison, show_result_line,
    show_results, stop_comparison, stream_all,
)
from ui.limits import rate_limit_input, session_limiter
from ui.plain_text import show_prompt
from ui.prices import price_editor
from ui.prompt_set_view import prompt_set_panel
from ui.inputs import bounded_int
from ui.providers import pick_provider
from ui.resources import comparisons
from ui.sidebar import DEFAULT_SYSTEM_PROMPT, EMPTY_PROMPT

sb = st.sidebar
sb.header("Targets")
count = bounded_int(sb, "Number of targets", 2, MAX_TARGETS, 2, key="cmp_count")
picks: list[TargetSpec | ProviderError] = []
for i in range(count):
    # The first target defaults to the embedded model, the others to the scripted demo.
    if i > 0 and f"t{i}_provider" not in st.session_state:
        st.session_state[f"t{i}_provider"] = "scripted"
    box = sb.expander(f"Target {i + 1}", expanded=True)
    pick = pick_provider(box, key=f"t{i}_")
    overrides = target_overrides(box, key=f"t{i}_")
    if isinstance(pick, ProviderError):
        box.error(pick.user_message, icon="⚠️")
        picks.append(pick)
    else:
        picks.append(TargetSpec(pick.provider, pick.model, pick.counter, pick.extra, overrides))

sb.header("Same for every target")
system_prompt = sb.text_area("System prompt", DEFAULT_SYSTEM_PROMPT, key="cmp_system_prompt")
max_tokens = bounded_int(sb, "Max output tokens", 1, 32_000, 256, step=64, key="cmp_max_tokens")
temperature = sb.slider("Temperature", 0.0, 2.0, 0.7, 0.05, key="cmp_temperature")
repeat = bounded_int(sb, "Runs per target", 1, 100, 1, key="cmp_repeat",
                     help="Above 1: the targets run in rounds, all together, and each pair "
                     "of targets gets a verdict with a 95 % interval from its paired runs: "
                     f"at least {MIN_PAIRS} pairs are needed, and without a warm-up the "
                     "first, cold run of each target is left out.")
# With several runs, on by default: the first, cold run (a new connection, an empty cache)
# is not counted. One run each is a side by side, not a measurement: no warm-up then.
warmup = sb.checkbox("Warm-up run first (not counted)", True, key="cmp_warmup",
                     help="With several runs per target: one run first that is not "
                     "counted.") and repeat > 1
needed = MIN_PAIRS + (0 if warmup else 1)
if 1 < repeat < needed:
    sb.caption(f"{int(repeat)} runs give {count_of(int(repeat) - (0 if warmup else 1), 'pair')} "
               f"of runs: a verdict needs {MIN_PAIRS}. Set {needed} for a verdict.")
elif repeat == 1:
    sb.caption(f"One answer each, side by side. For a verdict on speed, set {needed} runs.")
nonce = sb.checkbox("Defeat prompt caches", key="cmp_nonce",
                    help="A unique tag starts every request, so a provider's prompt cache "
                    "cannot make the repeats faster than a fresh request.")
blind = sb.checkbox("Blind: hide names until I vote", key="cmp_blind")
# Only paid targets are limited: with none, no such setting (a refused one keeps it in view).
if any(isinstance(p, RateLimitError) or (isinstance(p, TargetSpec) and p.provider.paid)
       for p in picks):
    rate_limit_input(sb)
price_editor(sb)

st.title("⚖️ Compare")
st.caption("One prompt, every target at once, side by side. Stop keeps what each has said.",
           help="Times are taken where each answer's bytes arrive, in a process that only "
           "reads answers, so a busy page cannot move them.")
# The prompt box sits under the title, not pinned to the page's foot: a pinned box keeps the
# view scrolled to the bottom as the comparison grows, below its one-line result.
prompt_box = st.container()
comparison = current_comparison(comparisons())
specs = [p for p in picks if isinstance(p, TargetSpec)]
embedded = sum(serial_key(s.provider) is not None for s in specs)
if embedded > 1:
    st.info("Embedded models answer one request at a time on this machine's cores: those "
            "targets run one after another (each timed on its own), the others in parallel.",
            icon="ℹ️")
if embedded and len(specs) > embedded:
    st.caption("ℹ️ The embedded model runs on this machine, beside the others.",
               help="It computes on this machine's cores while the others stream, so their "
               "timings can stretch a little: a scripted demo's 20 ms gaps measured 22 ms "
               "beside it on 2 cores.")

# Requests this comparison would send to paid APIs, against the session's per-minute limit.
paid_requests = sum(bool(s.provider.paid) for s in specs) * (int(repeat) + int(warmup))
per_minute = session_limiter().per_minute
shared = SharedSettings(system_prompt, int(max_tokens), float(temperature), nonce=nonce)
prompt_set_panel(specs, shared, int(repeat), ready=len(specs) == len(picks),
                 per_minute=per_minute)

turns = comparisons().chain(comparison) if comparison is not None else []
if comparison is not None:
    st.button("New comparison", icon="➕", key="new_comparison", on_click=forget_comparison,
              help="The next prompt starts afresh (this comparison stays stored, at its URL).")
going_on = comparison is not None and comparisons().continuation(comparison, specs) is not None
prompt = prompt_box.chat_input("Next prompt: every target goes on with its own conversation"
                               if going_on else "One prompt for every target")
if prompt is not None and not prompt.strip():
    st.warning(EMPTY_PROMPT, icon="✏️")
elif prompt and len(specs) < len(picks):
    st.error("Fix the targets marked in the sidebar first.", icon="⚠️")
elif prompt and per_minute and paid_requests > per_minute:
    st.error(f"This comparison would send {paid_requests} requests to paid providers, more "
             f"than your limit of {per_minute} a minute: lower the runs or raise the limit.",
             icon="⚠️")
elif prompt:
    previous = comparison
    if previous is not None:
        stop_comparison(previous)  # one turn at a time: the next prompt ends the one before
    # The same targets go on with their conversations; other targets start afresh.
    comparison = comparisons().start(prompt, specs, shared, repeat=int(repeat), warmup=warmup,
                                     blind=blind, follows=previous)
    show_comparison(comparison)  # a new URL
    turns = comparisons().chain(comparison)

if comparison is None:
    st.markdown("Pick the targets in the sidebar, then type a prompt below.")
else:
    for earlier in turns[:-1]:  # a multi-turn comparison: the turns before, as they ended
        with st.chat_message("user"):
            show_prompt(earlier.prompt)
        show_columns(earlier)
    with st.chat_message("user"):
        show_prompt(comparison.prompt)
    if not comparison.done:
        # Stops every target; each keeps its partial answer.
        st.button("Stop", icon="⏹️", key="stop_compare", on_click=stop_comparison,
                  args=(comparison,))
        if comparison.repeat == 1:
            stream_all(comparison)
        else:
            repeat_all(comparison)
        st.rerun()  # all ended in this run: draw the finished view, without the Stop button
    show_result_line(comparison)
    show_columns(comparison)
    continue_in_chat(comparison)
    show_results(comparison)
