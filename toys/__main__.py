import sys

from toys.cli import main

sys.exit(main())
