import os
import sys

from harness.cli import main

try:
    sys.exit(main())
except BrokenPipeError:  # the reader went away (`... | head`): stop quietly, as other tools do
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
    sys.exit(1)
