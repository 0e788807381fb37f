"""Prometheus metrics (the ``metrics`` extra): a worker's endpoint and the dashboard's text.

Nothing here is imported unless asked for: ``arame worker --metrics-port`` imports
``arame.metrics.worker_metrics``; the dashboard imports ``arame.metrics.dashboard``.
"""
