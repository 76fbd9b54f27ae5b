"""Teams, their indexes, members and write access (``service.py``)."""
