import sys

from modelserve.cli.main import main

sys.exit(main())
