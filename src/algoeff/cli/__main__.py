import sys

from algoeff.cli import main

sys.exit(main())
