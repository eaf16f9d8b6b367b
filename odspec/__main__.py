"""``python -m odspec``: the same as the ``odspec`` command."""

from odspec.fast import main

main()
