"""`python -m faceplate.core.cli`: the same as the `faceplate` command."""
import sys

from faceplate.core.cli import main

sys.exit(main())
