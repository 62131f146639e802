"""python -m kmodel: the same as the kmodel console script."""
import sys

from kmodel.cli.main import main

sys.exit(main())
