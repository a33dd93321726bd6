"""python -m mnist_ref: the mnist-ref command."""

import sys

from mnist_ref.cli import main

sys.exit(main())
