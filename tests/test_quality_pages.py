"""Issue 26 offline, in AppTest: a comparison of two scripted targets, the scripted judge
(``demo-judge``: a rule that prefers the answer with more distinct words, said in its reply)
over it from the Compare page, then the Leaderboard page's ratings, separation and decision
table. Everything runs through the real streaming path and the store; nothing is mocked."""

from __future__ import annotations

import time

from tests.clocks import HANG_GUARD_S
from tests.test_compare_page import pick


def _judged(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("##### ")]


def _judge(at, button: str) -> None:
    """Start the judge and rerun the page until its stored verdicts show (the judge works
    in its own thread; a hang guard only)."""
    at.button(key=button).click().run()
    deadline = time.monotonic() + HANG_GUARD_S * 3
    while not _judged(at) and time.monotonic() < deadline:
        time.sleep(0.3)
        at.run()
    assert not at.exception


def test_a_scripted_judge_over_a_comparison_feeds_the_leaderboard_and_the_decision(
        compare, app_test, store):
    pick(compare, t0="demo-fast", t1="demo-busy")  # the full demo text against its first part
    compare.sidebar.number_input(key="cmp_repeat").set_value(2).run()
    compare.chat_input[0].set_value("Show me markdown").run()
    assert not compare.exception
    assert compare.selectbox(key="judge_model").value == "demo-judge"
    _judge(compare, "judge_start")
    assert _judged(compare) == ["##### scripted · demo-judge · Pairwise (both orders)"]
    summary = next(m.value for m in compare.markdown if "counted" in m.value)
    # Both rounds' pairs, each read in both orders, agreeing: the fuller answer wins.
    assert summary.startswith("**2 pairs counted** (scripted · demo-fast better: 2)")
    assert "disagreed on 0%" in summary
    runs = store.runs()
    judge_runs = runs[runs.page == "judge"]
    assert len(judge_runs) == 4 and set(judge_runs.model) == {"demo-judge"}
    assert len(runs[runs.page == "compare"]) == 4  # the targets' runs, untouched
    assert any("kept apart from the targets" in c.value.lower() for c in compare.caption)

    board = app_test()
    board.switch_page("app_pages/leaderboard.py").run()
    assert not board.exception
    ratings = board.dataframe[0].value
    assert list(ratings.model) == ["scripted · demo-fast", "scripted · demo-busy"]
    assert ratings.rating[0] > ratings.rating[1] and list(ratings.battles) == [2, 2]
    separated = [m.value for m in board.markdown if m.value.startswith("- ")]
    assert separated and "demo-fast" in separated[0]
    decision = (board.success or board.info)[0].value
    assert "demo-fast" in decision or "cannot separate" in decision
    frame = board.dataframe[1].value
    assert len(frame) == 2
    # Presented full screen with the constraints the page had.
    link = next(p for p in board.get("page_link") if p.proto.label == "Present")
    room = app_test()
    for key, value in __import__("urllib.parse", fromlist=["parse_qsl"]).parse_qsl(
            link.proto.query_string):
        room.query_params[key] = value
    room.switch_page("app_pages/present.py").run()
    assert not room.exception
    assert (room.success or room.info)[0].value == decision
    assert room.dataframe and not room.sidebar.text_area

    # The report carries the decision, from the judge's verdicts on this comparison.
    from chatlib.quality.decision import Quality, decide, figures_from_records
    from chatlib.quality.judge import JudgeReport
    from chatlib.quality.ratings import battles_from_verdicts, leaderboard
    from chatlib.reports.html import comparison_report, read_figures
    from chatlib.store.judgements import JudgementStore

    comparison = compare.session_state["comparison"]
    (stored,) = JudgementStore(store).of(comparison.id)
    ratings = leaderboard(battles_from_verdicts(JudgeReport.from_dict(stored.result).verdicts),
                          sources=("judge",))
    rows = [figures_from_records(r.model, [x for t in comparison.targets for x in t.records
                                           if f"{x.provider} · {x.model}" == r.model],
                                 quality=Quality.from_rating(r)) for r in ratings.ratings]
    page = comparison_report(comparison, decide(rows))
    assert "<h2>Decision</h2>" in page and page.index("<h2>Result</h2>") < page.index(
        "<h2>Decision</h2>") < page.index("<h2>Prompt and settings</h2>")
    assert read_figures(page)["decision"]["decision"]["words"] == decide(rows).decision.words


def test_a_judge_over_a_prompt_set_feeds_that_prompt_sets_leaderboard(app_test, store):
    """A prompt set of two targets (the full demo against its first part), the scripted judge
    over every case from the prompt-set panel, then the leaderboard over that prompt set."""
    from chatlib.compare.comparison import SharedSettings
    from chatlib.evals.prompt_sets import parse_csv
    from chatlib.evals.runner import resolve_targets, run_prompt_set

    cases = parse_csv("id,prompt\none,Show me\ntwo,Again\nthree,Once more\n")
    run = run_prompt_set(cases, resolve_targets(["scripted:demo-fast", "scripted:demo-busy"]),
                         store=store, shared=SharedSettings(max_tokens=64), source="set.csv")
    at = app_test()
    at.switch_page("app_pages/compare.py")
    at.query_params["prompt_set"] = run.id
    at.run()
    assert not at.exception
    assert at.selectbox(key="psjudge_model").value == "demo-judge"
    _judge(at, "psjudge_start")
    assert _judged(at)
    summary = next(m.value for m in at.markdown if "counted" in m.value)
    assert summary.startswith("**3 pairs counted** (scripted · demo-fast better: 3)")

    board = app_test()
    board.switch_page("app_pages/leaderboard.py").run()
    board.sidebar.selectbox(key="lb_scope").set_value(run.id).run()
    assert not board.exception
    ratings = board.dataframe[0].value
    assert list(ratings.model) == ["scripted · demo-fast", "scripted · demo-busy"]
    assert list(ratings.battles) == [3, 3]  # this prompt set's three cases, nothing else
