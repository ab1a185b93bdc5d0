"""The engine: a process of its own that reads providers' streams and timestamps every
event where its bytes arrive, so a busy app process cannot move the figures.

``main`` is the engine process; ``client`` starts it beside each app process, talks to it
over a socket pair and gives the app ``EnginePump``s (``new_pump``) that the pages read as
they read any ``StreamPump``. See ``docs/architecture.md`` ("The processes").
"""

__all__: list[str] = []
