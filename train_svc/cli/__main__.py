"""python -m train_svc.cli: the ltx-trainer command."""

import sys

from train_svc.cli.main import main

sys.exit(main())
