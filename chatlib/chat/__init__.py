"""A stored chat's answers: asked, streamed, stopped, re-attached after a rerun or a reload."""
