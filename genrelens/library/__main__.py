"""``python -m genrelens.library``: the library tagger (``genrelens.library.tagger``)."""
import sys

from genrelens.library.tagger import main

sys.exit(main())
