"""Streamlit helpers shared by the pages: rendering a stream, the provider sidebar."""
