import sys

from gateway.edges.cli.main import main

sys.exit(main())
