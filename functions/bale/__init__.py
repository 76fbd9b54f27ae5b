"""Bale: a serverless, multi-tenant private Python package registry on Google Cloud."""

__version__ = "0.1.0"
