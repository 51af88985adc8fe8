"""The dashboard's building blocks (the Streamlit front end's library; pages/ stay thin).

    ui.shell       page config, st.navigation over pages/, the sidebar around every page
    ui.common      settings, the store Reader, sync, cached queries, tables with downloads, errors
    ui.formatting  numbers, durations, run labels, state badges
    ui.figures     plotly figure builders (every chart of the app)
    ui.spec_form   a RunSpec / StudySpec form generated from the pydantic models, YAML round trip
    ui.sidebar     the sidebar: workspace, data directory, worker, sync
    ui.launch, ui.runs, ui.compare, ui.quality, ui.samples, ui.datasets
                   one module per page: `render()` draws the page

Nothing here trains, scores or imports ML libraries: data comes from store.queries through a
store.db.Reader, work goes through engine.api (a worker process does it). No module keeps state:
everything per session lives in st.session_state, everything shared in Streamlit's caches.
"""
