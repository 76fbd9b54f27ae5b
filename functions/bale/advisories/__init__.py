"""Security advisories: OSV records for PyPI projects, matched against releases ahead of time."""
