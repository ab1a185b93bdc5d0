"""The baseline the browser benchmarks compare the app with: the same scripted stream sent
through plain ``st.write_stream``, one chunk at a time (no coalescing, no frozen blocks).

``streamlit run bench/plain_write_stream_app.py`` and open ``/?model=<scripted model>``.
The provider is read by the same ``StreamPump`` as in the app (batch window 0: every chunk
is yielded as it comes), so the run store holds the provider's first and last byte times
exactly as for the app, and only the rendering differs.
"""

import streamlit as st

from chatlib.providers.scripted import ScriptedProvider
from chatlib.streaming.pump import StreamPump
from chatlib.store import RunStore
from chatlib.core.types import Message, Settings

model = st.query_params.get("model", "demo-markdown")
prompt = st.chat_input("Ask anything")
if prompt:
    with st.chat_message("user"):
        st.markdown(prompt)
    pump = StreamPump(ScriptedProvider(), [Message("user", prompt)], Settings(model=model),
                      on_done=RunStore().add, batch_s=0.0,
                      record_fields={"page": "plain"}).start()
    with st.chat_message("assistant"):
        # The pump yields "" while idle (so a Stop is noticed); plain write_stream does not
        # need those.
        st.write_stream(piece for piece in pump.text_batches() if piece)
