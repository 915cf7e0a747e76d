"""One blueprint per concern: ``page`` (GET /), ``upload`` (POST /file-upload), ``jobs`` (/jobs),
``analyses`` (stored results and their pictures), ``api`` (model card, genre guide, health)."""
