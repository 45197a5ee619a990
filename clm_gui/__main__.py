import sys

from clm_gui.cli import main

sys.exit(main())
