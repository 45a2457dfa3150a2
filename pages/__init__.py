"""The dashboard's pages, one module per page, each with a `render()` that app.py
hands to st.navigation. Pages are thin: they read the viewer from the session
context, call the figures of dashboard.figures and lay out components. They may
import components and dashboard; nothing imports them but app.py."""
