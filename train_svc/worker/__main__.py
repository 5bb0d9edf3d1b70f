"""python -m train_svc.worker --job-dir DIR --control HOST:PORT (one rank; run it under torchrun)"""

import sys

from train_svc.worker.main import main

if __name__ == "__main__":
    sys.exit(main())
