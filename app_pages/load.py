"""Load page: how each target holds up at a product's traffic. Pick targets, a workload, a
schedule (concurrency levels, request rates, or a sweep that finds the range) and SLOs;
start; watch the levels come in; read each target's knee in words, the latency-against-
throughput chart side by side, and download the report. A view of one run (``?load=<id>``):
the one running re-attached, or a stored one as it ended."""

import streamlit as st

from chatlib.compare.comparison import MAX_TARGETS, TargetSpec
from chatlib.core.errors import ProviderError
from chatlib.evals.prompt_sets import parse_prompt_set
from chatlib.load.estimate import estimate_target
from chatlib.load.generator import workers_for
from chatlib.load.spec import SWEEP_MAX, LoadSpec, Schedule, Workload, parse_slo
from chatlib.providers.ratelimit import RateLimitedProvider
from ui.inputs import bounded_int
from ui.load_view import URL_KEY, current_load, recent_loads, show_load
from ui.limits import session_limiter
from ui.providers import pick_provider
from ui.resources import load_runs

DEFAULT_SLOS = "p99 ttft <= 500ms\np99 itl <= 50ms"
# Offline, two scripted servers make the page's point at once: one with 4 slots, one without.
DEFAULT_MODELS = ("demo-busy", "demo-fast")

sb = st.sidebar
sb.header("Targets")
count = bounded_int(sb, "Number of targets", 1, MAX_TARGETS, 2, key="load_count")
picks: list[TargetSpec | ProviderError] = []
names: list[str] = []
for i in range(count):
    if f"load{i}_provider" not in st.session_state:
        st.session_state[f"load{i}_provider"] = "scripted"
        st.session_state[f"load{i}_model"] = DEFAULT_MODELS[i % len(DEFAULT_MODELS)]
    box = sb.expander(f"Target {chr(ord('A') + i)}", expanded=True)
    pick = pick_provider(box, key=f"load{i}_")
    if isinstance(pick, ProviderError):
        box.error(pick.user_message, icon="⚠️")
        picks.append(pick)
    else:
        picks.append(TargetSpec(pick.provider, pick.model, pick.counter, pick.extra))
        names.append(f"{pick.provider.id}:{pick.model}")

sb.header("Workload")
source = sb.radio("Prompts", ["Synthetic", "A prompt set"], horizontal=True, key="load_source")
prompts: tuple[str, ...] = ()
prompt_file = ""
input_tokens = bounded_int(sb, "Input tokens per request", 1, 32_000, 128, key="load_in",
                           help="Synthetic prompts of this many of each target's own tokens, "
                                "each one different (no prompt cache can serve one from "
                                "another).")
if source == "A prompt set":
    upload = sb.file_uploader("CSV or JSONL of prompts", type=["csv", "jsonl", "ndjson"],
                              key="load_prompts")
    if upload is not None:
        try:
            prompts = tuple(case.prompt for case in parse_prompt_set(upload.getvalue(),
                                                                     upload.name))
            prompt_file = upload.name
        except ValueError as exc:
            sb.error(str(exc), icon="⚠️")
output_tokens = bounded_int(sb, "Output tokens per request (max)", 1, 32_000, 64,
                            key="load_out")

sb.header("Schedule")
modes = {"sweep": "Sweep: find the knee", "concurrency": "Concurrency levels",
         "rate": "Request rates"}
mode = sb.radio("How hard", list(modes), format_func=modes.__getitem__, key="load_mode")
levels_text = ""
poisson = False
max_level = SWEEP_MAX
if mode == "concurrency":
    levels_text = sb.text_input("Concurrent streams", "1, 2, 4, 8, 16", key="load_levels")
elif mode == "rate":
    levels_text = sb.text_input("Requests per second", "1, 2, 5, 10", key="load_rates")
    poisson = sb.checkbox("Poisson arrivals", True, key="load_poisson",
                          help="Random gaps with the same mean, as independent users "
                               "arrive; off: evenly spaced.")
else:
    max_level = bounded_int(sb, "Highest concurrency", 1, 1024, 64, key="load_max",
                            help="Concurrency doubles from 1 while every SLO holds, then is "
                                 "bisected between the last level that held and the first "
                                 "that did not.")
seconds = bounded_int(sb, "Seconds per level", 1, 3600, 10, key="load_seconds")
request_cap = bounded_int(sb, "At most requests per level (0 = no cap)", 0, 1_000_000, 0,
                          key="load_cap", help="Needed for a paid API, so the cost has a "
                                               "ceiling.")
slo_text = sb.text_area("SLOs, one per line", DEFAULT_SLOS, key="load_slos",
                        help="e.g. p99 ttft <= 200ms, p90 e2e <= 10s; metrics ttft, itl, "
                             "tpot, e2e. A failed request counts as a miss.")

st.title("📈 Load")
st.caption("How each target holds up as traffic grows: throughput, latency percentiles and "
           "goodput per level, and the knee: the most load that still meets your SLOs.")

problems: list[str] = [p.user_message for p in picks if isinstance(p, ProviderError)]
spec: LoadSpec | None = None
try:
    slos = tuple(parse_slo(line) for line in slo_text.splitlines() if line.strip())
    levels = tuple(float(part) for part in levels_text.replace(" ", "").split(",") if part)
    schedule = Schedule(mode, levels or (1,), poisson, max_level)  # type: ignore[arg-type]
    if source == "A prompt set" and not prompts:
        problems.append("Upload a prompt set, or choose synthetic prompts.")
    if not problems:
        spec = LoadSpec(tuple(zip("ABCD", names)),
                        Workload(input_tokens, output_tokens, prompts, prompt_file),
                        schedule, slos, float(seconds), request_cap or None)
except ValueError as exc:
    problems.append(str(exc))

view = current_load()
running = load_runs().running()
if view is None and running:
    view = running[-1]
    st.query_params[URL_KEY] = view.id

specs = [p for p in picks if isinstance(p, TargetSpec)]
paid = [(chr(ord("A") + i), s) for i, s in enumerate(specs) if s.provider.paid]
confirmed = True
lift_limit = False
if spec is not None and paid and not (view is not None and view in running):
    per_minute = session_limiter().per_minute
    workers = workers_for(int(max(spec.schedule.levels)) if mode == "concurrency"
                          else max_level)
    lines = []
    for label, target in paid:
        estimate = estimate_target(spec, label, target.provider.id, target.model,
                                   warmups=workers)
        if not estimate.bounded:
            problems.append(f"{label} is a paid API: set “At most requests per level”, so "
                            "the run has a ceiling.")
            continue
        cost = ("not priced" if estimate.cost is None
                else f"about {estimate.cost:.4f} {estimate.currency}")
        lines.append(f"{label} ({target.provider.label} · {target.model}): at most "
                     f"{estimate.requests:,} requests, {estimate.input_tokens:,} input and "
                     f"{estimate.output_tokens:,} output tokens, {cost}.")
    if lines:
        st.warning("This run sends requests to paid APIs:\n\n" + "\n".join(
            f"- {line}" for line in lines), icon="💳")
        confirmed = st.checkbox("Send them", key="load_confirm")
        if per_minute:
            lift_limit = st.checkbox(
                f"Lift my limit of {per_minute} paid requests a minute for this run",
                key="load_lift", help="Without this, a level could send only "
                f"{per_minute * seconds // 60} requests in its {seconds} s: the run would "
                "measure your limit, not the provider, so it does not start.")
            if not lift_limit:
                problems.append(f"Your limit of {per_minute} paid requests a minute would cut "
                                "every level short: lift it for this run, or raise it on the "
                                "Chat page.")

start = st.button("Start", type="primary", icon="▶️", key="load_start",
                  disabled=bool(running) or spec is None)
for problem in problems:
    st.error(problem, icon="⚠️")
if start and spec is not None and not problems:
    if not confirmed:
        st.error("Tick “Send them” to confirm the requests to paid APIs.", icon="💳")
    else:
        targets = [TargetSpec(s.provider.inner, s.model, s.counter, s.extra)
                   if lift_limit and isinstance(s.provider, RateLimitedProvider) else s
                   for s in specs]
        view = load_runs().start(spec, targets)
        st.query_params[URL_KEY] = view.id

if view is not None:
    show_load(view)
else:
    st.markdown("Pick the targets and the schedule in the sidebar, then **Start**. Offline, "
                "the two scripted demos show the idea: one serves 4 streams at once and "
                "queues the rest, the other never queues.")
recent_loads()
