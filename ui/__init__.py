"""The dashboard's building blocks (the Streamlit front end's library; pages/ stay thin).

    ui.shell       page config, st.navigation over pages/, the sidebar around every page
    ui.common      settings, the page list, the store Reader, sync, cached queries, metric metadata,
                   tables with downloads, errors
    ui.formatting  numbers, durations, run labels, state badges
    ui.figures     plotly figure builders (every chart of the app)
    ui.spec_form   the run and study forms of the Launch page (sections, tasks, study tables)
    ui.spec_widgets   widgets generated from pydantic fields: one per field, grids, editable tables
    ui.spec_yaml   the spec's YAML round trip (shorthands expanded, None dropped, readable errors)
    ui.spec_defaults  the single run and the study the Launch page starts from
    ui.sidebar     the sidebar: workspace, data directory, worker, sync
    ui.launch, ui.runs, ui.compare, ui.quality, ui.samples, ui.datasets
                   one module per page: `render()` draws the page
    ui.paired_tests   the Compare page's paired tests (which metrics: the metric metadata)
    ui.reference   the Compare page's "Reference study" section (the reference runs: pairing
                   evidence, RQ1-RQ3 recomputed, every metric with its n) and its overlays
    ui.cli         the `codetune` command line (the other front end)

Nothing here trains, scores or imports ML libraries: data comes from store.queries through a
store.db.Reader, work goes through engine.api (a worker process does it). No module keeps state:
everything per session lives in st.session_state, everything shared in Streamlit's caches.
"""
