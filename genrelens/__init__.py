"""GenreLens: music genre classification.

Rooms, each a sub-package; arrows point down, never back (``tests/test_imports.py`` keeps it so):

- ``web``: the Flask app, its blueprints, the server layer, the pictures;
- ``explore``: a library at a glance: more like this, a job's summary, playlists (uses ``jobs``);
- ``jobs``: the database, the analysis store, jobs, queues and workers;
- ``library``: the library tagger and the genre tags it writes into files (its playlists from ``explore``);
- shared by those three: ``settings`` (every setting, from the environment), ``problems`` (a file's
  fault as the API answers it), ``results_csv`` (the CSV of jobs and the tagger), ``threads``;
- ``analysis``: decode -> segments -> models -> timeline -> the answer;
- ``models``: the networks, heads and cards as the server runs them.

``cli`` is the batch command behind ``music_genre_classifier.py``. Nothing here imports a top-level
module (``app``, ``training``).
"""
