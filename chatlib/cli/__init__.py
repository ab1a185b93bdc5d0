"""Chat Lab's command lines (``python -m chatlib.cli.<name>``): front doors, like the API
and the pages, over the packages below them."""
