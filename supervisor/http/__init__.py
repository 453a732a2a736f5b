"""The HTTP side: /metrics and /healthz, a Flask app under gunicorn, in a process of its own."""
