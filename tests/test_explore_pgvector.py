""""More like this" on the scale-out path: a real PostgreSQL 16 with pgvector (the ``pgserver`` wheel starts
one in a temp folder), its HNSW index, and the same answers as numpy's exact search."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text

from conftest import chord, make_app, upload, write_audio
from genrelens.explore.similar import similar
from genrelens.jobs.database import EMBEDDING_DIMS, Database
from genrelens.jobs.store import AnalysisStore
from test_explore import drum_loop


@pytest.fixture(scope="module")
def pgvector_url(tmp_path_factory):
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pgvector"), cleanup_mode="stop")
    url = server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    yield url
    server.cleanup()


def fresh_database(url: str, name: str) -> Database:
    admin = Database(url).engine.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    base, _, query = url.partition("?")
    return Database(base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else ""))


def test_vectors_go_into_an_hnsw_index_and_it_finds_what_numpy_finds(pgvector_url):
    database = fresh_database(pgvector_url, "vectors")
    store = AnalysisStore(database, max_bytes=1 << 30, ttl_s=3600)
    assert database.engine is not None and database.has_pgvector
    with database.read() as connection:
        index = connection.scalar(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_embeddings_v'"))
    assert "hnsw" in index and "vector_cosine_ops" in index
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((6, EMBEDDING_DIMS))
    vectors = centres[rng.integers(0, 6, 300)] + 0.4 * rng.standard_normal((300, EMBEDDING_DIMS))
    ids = []
    for i, vector in enumerate(vectors):
        result_id, _ = store.add({"genre": "jazz"}, np.zeros(10, np.float32), f"hash{i}", "key", vector, "musicnn")
        ids.append(store.attach(result_id, f"track-{i}.mp3", np.zeros(10, np.float32)))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    for probe in (0, 17, 150, 299):
        found = similar(database, ids[probe], 10, scope="all")
        scores = unit @ unit[probe]
        scores[probe] = -np.inf
        exact = [ids[i] for i in np.argsort(-scores)[:10]]
        assert [n.id for n in found] == exact
        assert np.allclose([n.similarity for n in found], np.sort(scores)[::-1][:10], atol=1e-4)
        assert all(n.filename.startswith("track-") and n.genre == "jazz" for n in found)
    # the index returns at most hnsw.ef_search rows (40 by default): the search asks for as many as it needs
    assert len(similar(database, ids[0], 100, scope="all")) == 100


def test_the_service_on_postgresql_answers_more_like_this_through_pgvector(pgvector_url, tmp_path, audio_dir):
    database = fresh_database(pgvector_url, "service")
    app = make_app(tmp_path, DATABASE_URL=database.url, SIMILAR_SCOPE="all")
    assert app.extensions["genre"]["database"].has_pgvector
    client = app.test_client()
    names = {"drums-a.mp3": drum_loop(10, seed=40), "drums-b.mp3": drum_loop(10, seed=41),
             "soft-a.mp3": 0.6 * chord(10, seed=42)}
    ids = {name: upload(client, write_audio(audio_dir / f"pg-{name}", signal), name=name).get_json()["id"]
           for name, signal in names.items()}
    answer = client.get(f"/analyses/{ids['drums-a.mp3']}/similar?n=2").get_json()
    assert [item["filename"] for item in answer["similar"]] == ["drums-b.mp3", "soft-a.mp3"]
    assert answer["similar"][0]["similarity"] > answer["similar"][1]["similarity"]
