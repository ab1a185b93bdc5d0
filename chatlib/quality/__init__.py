"""Answer quality beside speed and cost: a judge model that compares answers in both orders
(``judge``), Bradley–Terry ratings with bootstrap intervals from blind votes and judge
verdicts (``ratings``), and one decision table that names a pick from quality, latency, errors,
cost and the load knee under the user's constraints (``decision``)."""
