"""`python -m scripts.bench_ejabberd`: see the package's docstring."""

import sys

from .cli import main

sys.exit(main())
