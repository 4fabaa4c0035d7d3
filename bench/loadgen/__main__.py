"""``python -m bench.loadgen`` (also ``python bench/loadgen`` from the repository root)."""

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a directory: put the repository on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.loadgen.cli import main  # noqa: E402

sys.exit(main())
