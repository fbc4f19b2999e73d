"""python -m sqeazy_filter: the command line (see `python -m sqeazy_filter --help`)."""
from .cli import main

raise SystemExit(main())
