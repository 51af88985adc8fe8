"""The report to take away: one folder (or zip) with a self-contained HTML page, the tables as CSV and
LaTeX (booktabs), and the figures as SVG and PDF, for a study or a set of runs.

    build.py    what goes in: the selection (a study or runs, resolved), the verdicts and values with
                n and intervals (ui.verdict_data), costs (the store's `run_costs`), the runs, their
                fidelity notes and specs, the versions of the environment
    images.py   the figures as static images (matplotlib, no display)
    html.py     the HTML page (figures embedded as data: URIs, nothing fetched from elsewhere)
    latex.py    the tables as booktabs LaTeX (fragments to \\input, plus one document that compiles)
    files.py    every file of the report as bytes: written to a folder, or zipped for a download
    command.py  `codetune report STUDY|RUN... --out DIR`
    button.py   the "Download report" button of the Compare page (the only module here that imports
                streamlit)

Nothing here imports streamlit at import time except button.py, and matplotlib loads only when a
figure is drawn, so the command line stays light.
"""
