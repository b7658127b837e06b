"""The Flask app: ``create_app`` (``app.py``), the guards the views share (``guards.py``),
the views, the dashboard with its static files, and the OpenAPI document."""
