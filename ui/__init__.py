"""Streamlit pieces shared by pages: controls bound to the URL, live training, exports, device badge."""
