"""CodeTune Studio's dashboard: `streamlit run app.py` (listens on 127.0.0.1, see .streamlit/config.toml).

The app is a thin shell (ui.shell): st.navigation over the six pages in pages/, and the shared
sidebar (workspace, data directory, worker, store sync). Pages read the store through
store.queries and act through engine.api; a separate worker process does every run's work.
"""

from ui import shell

shell.main()
