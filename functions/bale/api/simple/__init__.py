"""The Simple API (PEP 503/691) and downloads: routing and authorization in ``views.py``."""
