"""The self-contained HTML report that hands a decision over."""
