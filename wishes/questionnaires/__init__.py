"""Satisfaction questionnaires: definitions and versions, answering, comments, admin pages."""
