"""The app's shell: page configuration, navigation over pages/, the sidebar, and each page's entry.

app.py calls `main()`: st.navigation over the six pages, the sidebar (which syncs the store), then
the chosen page. Each file in pages/ calls `page(render)`, which draws the page when the shell
runs it. Streamlit also knows the older "pages/ folder" mode: on a freshly started server, a first
visit that goes straight to e.g. /compare runs pages/compare.py on its own, without app.py (no
sidebar, Streamlit's plain page list). `page()` notices that (the shell's marker is absent) and
runs the shell around itself: `main()` registers the real navigation (which switches Streamlit to
it for good), draws the sidebar and runs the page the visitor asked for through it, exactly as
app.py would (so widget identities are the same either way; AppTest runs every rerun of a
multipage app like this).
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from ui import common, sidebar

MARKER = "app.shell"
TITLE = "CodeTune Studio"


def navigation() -> StreamlitPage:
    """st.navigation over the app's pages (ui.common.NAVIGATION; the first, Launch, is the default)."""
    pages = [
        st.Page(page.path, title=page.title, icon=page.icon, default=i == 0)
        for i, page in enumerate(common.NAVIGATION)
    ]
    return st.navigation(pages)


def main() -> None:
    """Configure the page, draw the sidebar (which syncs the store) and run the chosen page."""
    st.set_page_config(page_title=TITLE, page_icon="🧪", layout="wide")
    chosen = navigation()
    sidebar.render()
    st.session_state[MARKER] = True
    try:
        chosen.run()
    finally:
        st.session_state[MARKER] = False


def page(render: Callable[[], None]) -> None:
    """A page file's entry: draw it inside the shell, or run the shell first (see above)."""
    if st.session_state.get(MARKER):
        render()
    else:
        main()  # registers the app's pages (Streamlit leaves the pages/ folder mode) and runs this page
