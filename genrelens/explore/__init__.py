"""The explore room: a library at a glance, from what the analyses already hold.

``embeddings`` (a track's vector: which one and how it is kept), ``similar`` ("more like this": nearest
vectors, numpy over the stored rows or pgvector on PostgreSQL), ``summary`` (a job's counts per genre,
per electronic style and its most frequent tags) and ``playlists`` (extended M3U, best match first).
It imports the jobs room's database and store, the shared modules, analysis and models; web and the
library tagger import it, and nothing here imports them.
"""
