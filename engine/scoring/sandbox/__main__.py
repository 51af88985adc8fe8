"""`python -m engine.scoring.sandbox FILE --lang ...`: the sandbox CLI without the codetune entry point."""

import sys

from engine.scoring.sandbox.cli import main

sys.exit(main())
