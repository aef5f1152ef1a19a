import sys

from addons.cli import main

sys.exit(main())
