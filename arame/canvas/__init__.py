"""Workflows: signatures, chains, groups and chords (Celery's canvas), built on the results table.

``nodes`` holds the user-facing objects, ``plan`` flattens one into the tasks to publish now and
the steps that wait (one ``arame_joins`` row each), ``publish`` writes and publishes a plan, and
``retry`` runs a failed workflow again from where it failed.
"""
