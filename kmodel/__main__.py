"""python -m kmodel: the same as the kmodel console script (kmodel/cli/entry.py)."""
import sys

from kmodel.cli.entry import main

sys.exit(main())
