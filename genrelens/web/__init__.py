"""The web room: the Flask app (``factory.create_app``), one blueprint per concern (``blueprints``),
JSON errors and security headers (``errors``), the server layer in front of Flask (``serving``) and the
pictures of the sound (``pictures``). It uses every room below it and nothing imports it but ``app.py``."""
