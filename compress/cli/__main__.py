"""``python -m compress.cli``: the same as the ``edgecompress`` command."""

from compress.cli import main

main()
