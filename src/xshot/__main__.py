import sys

from xshot.cli import main

sys.exit(main())
