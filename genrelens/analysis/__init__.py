"""The analysis room: one file from bytes to an answer. ``audio`` decodes (PyAV, in-process),
``musicnn_features`` makes musicnn's input patches, ``pipeline`` cuts 3-s segments and runs a model on
every one, ``timeline`` smooths the segments' genres, ``peaks`` draws a long file's waveform, ``warm``
warms numba's cache. It uses ``genrelens.models`` and nothing above it."""
