"""Views: one index URL over a team's indexes, first source wins per project, under a filter
(filters.py: the filter language, pure; service.py: the records)."""
