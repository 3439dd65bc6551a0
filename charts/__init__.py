"""Altair chart builders: pure functions, arrays/DataFrames in, alt.Chart out (no streamlit)."""
