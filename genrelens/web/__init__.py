"""The web room: the Flask app (``factory.create_app``), one blueprint per concern (``blueprints``) and
what they share (``context``), JSON errors and security headers (``errors``), multipart forms whose part
headers are not UTF-8 (``forms``), the server layer in front of Flask (``serving``) and the pictures of
the sound (``pictures``). It uses every room below it and nothing imports it but ``app.py``."""
