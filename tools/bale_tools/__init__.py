"""Bale's tooling: the ``bale`` CLI, ``bale dev`` and the local emulators.

Installed with the wheel, never deployed: the functions' archive is ``functions/`` alone, and
nothing in ``bale`` imports this package.
"""
