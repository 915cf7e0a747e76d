"""GenreLens: music genre classification.

Modules, in the order one upload flows through them: ``audio`` (decode), ``musicnn_features``
(musicnn's input patches), ``models`` (model cards and LiteRT/Keras predictors), ``heads`` (the
linear genre and style heads on musicnn's outputs), ``electronic``
(electronic styles and the guide's nearest genres), ``pipeline`` (segments -> models -> Analysis),
``store`` (analyses in the database, ``db``), ``visualizations`` (pictures); ``cli`` is the batch command.
Jobs: ``jobs`` (the book of record and the queues), ``worker`` (the embedded pool), ``celery_worker``
(Celery workers); ``library`` is the library tagger, ``tags`` writes genres into files.
Nothing here imports a top-level module.
"""
