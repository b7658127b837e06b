"""How granian serves the app: the RSGI app around the Flask app (``rsgi.py``)."""
