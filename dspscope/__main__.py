import sys

from dspscope.cli import main

sys.exit(main())
