"""The library room: the tagger (``python -m genrelens.library``, ``tagger``), its two back-ends
(``local``: a pool of processes here; ``remote``: a GenreLens service's job queue), what they share
(``outcomes``), the genre tags written into the files (``file_tags``, mutagen) and what Ctrl-C and
SIGTERM do (``interrupts``)."""
