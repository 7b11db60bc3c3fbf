"""``python -m image_mlops_dev.emulator``: the local AWS emulator (see :mod:`.server`)."""

from image_mlops_dev.emulator.server import main

main()
