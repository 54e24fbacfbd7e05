"""``python -m unlearnlab``: the command line, as a module (for ``accelerate launch -m``)."""

from unlearnlab.cli import main

main()
