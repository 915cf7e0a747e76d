"""GenreLens: music genre classification.

Modules, in the order one upload flows through them: ``audio`` (decode), ``musicnn_features``
(musicnn's input patches), ``models`` (model cards and LiteRT/Keras predictors), ``heads`` (the
linear genre and style heads on musicnn's outputs), ``electronic``
(electronic styles and the guide's nearest genres), ``pipeline`` (segments -> models -> Analysis),
``store`` (analyses shared by workers), ``visualizations`` (pictures); ``cli`` is the batch command.
Nothing here imports a top-level module.
"""
