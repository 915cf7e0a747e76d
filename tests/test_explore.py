"""A library at a glance (issue 23): "more like this", a job's summary and its playlists, through the API
with the real embedded pool and SQLite, on a job of four soft tonal pieces and four noisy drum loops."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import delete, select

from conftest import chord, clicks, four_on_the_floor, make_app, noise, pad, piano, upload, write_audio
from genrelens.jobs.database import Database, embeddings
from jobs_support import start_embedded_pool, stop, submit, wait_for_job

SOFT, DRUMS = "soft", "drums"


def drum_loop(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    beat = clicks(seconds, bpm=int(rng.integers(100, 150)), seed=seed) + four_on_the_floor(seconds, seed=seed)
    return (beat + 0.25 * noise(seconds, seed=seed)).clip(-1, 1)


@pytest.fixture(scope="module")
def library(audio_dir):
    """Eight files named by their kind; the tonal ones quiet and slow, the drum loops loud and noisy."""
    tonal = [piano(10, seed=1), 0.5 * pad(10, seed=2), piano(10, seed=3) + 0.3 * pad(10, seed=4),
             0.6 * chord(10, root_hz=196.0, seed=5) * np.hanning(int(10 * 22050)).astype(np.float32)]
    paths = {}
    for i, signal in enumerate(tonal):
        paths[f"{SOFT}-{i}.mp3"] = write_audio(audio_dir / f"{SOFT}-{i}.mp3", signal)
    for i in range(4):
        paths[f"{DRUMS}-{i}.mp3"] = write_audio(audio_dir / f"{DRUMS}-{i}.mp3", drum_loop(10, seed=20 + i))
    return paths


@pytest.fixture(scope="module")
def served(tmp_path_factory, library):
    tmp = tmp_path_factory.mktemp("explore")
    app = make_app(tmp)
    pool = start_embedded_pool(app, tmp / "pool.log", workers=2)
    client = app.test_client()
    response = submit(client, list(library.values()), list(library))
    assert response.status_code == 202, response.get_data(as_text=True)
    view = wait_for_job(client, response.get_json()["id"])
    yield app, client, view
    stop(pool)


def kind(name: str) -> str:
    return name.split("-")[0]


def test_more_like_this_returns_the_same_kind_for_every_file(served):
    _, client, view = served
    assert view["done"] == 8, view
    for entry in view["files"]:
        response = client.get(f"/analyses/{entry['analysis_id']}/similar?n=3&job={view['id']}")
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.headers["Cache-Control"] == "no-store"  # other files' names
        answer = response.get_json()
        assert answer["id"] == entry["analysis_id"]
        names = [item["filename"] for item in answer["similar"]]
        assert len(names) == 3 and entry["filename"] not in names
        assert {kind(name) for name in names} == {kind(entry["filename"])}, (entry["filename"], answer)
        similarities = [item["similarity"] for item in answer["similar"]]
        assert similarities == sorted(similarities, reverse=True) and all(-1 <= s <= 1 for s in similarities)
        assert all(item["genre"] for item in answer["similar"])


def test_without_job_an_analysis_is_compared_with_its_own_jobs_files_only(served, library):
    app, client, view = served
    first = view["files"][0]
    default = client.get(f"/analyses/{first['analysis_id']}/similar?n=100").get_json()
    assert default["scope"] == "job" and len(default["similar"]) == 7
    # another client's upload of its own file never sees this job's names
    alone = upload(client, library[f"{SOFT}-0.mp3"], name="someone-else.mp3").get_json()
    answer = client.get(f"/analyses/{alone['id']}/similar").get_json()
    assert answer == {"id": alone["id"], "scope": "job", "similar": []}
    # and this job's answers do not list the other client's file (same audio, another owner)
    names = [item["filename"] for item in client.get(f"/analyses/{first['analysis_id']}/similar?n=100")
             .get_json()["similar"]]
    assert "someone-else.mp3" not in names


def test_with_similar_scope_all_every_kept_analysis_is_a_candidate(served, library, tmp_path):
    app, _, view = served
    everyone = make_app(tmp_path, ANALYSIS_DIR=app.config["ANALYSIS_DIR"], SIMILAR_SCOPE="all").test_client()
    drums = [f for f in view["files"] if kind(f["filename"]) == DRUMS][0]
    answer = everyone.get(f"/analyses/{drums['analysis_id']}/similar?n=3").get_json()
    assert answer["scope"] == "all"
    assert {kind(item["filename"]) for item in answer["similar"]} == {DRUMS}


def test_the_job_has_its_summary(served):
    _, client, view = served
    summary = client.get(f"/jobs/{view['id']}").get_json()["summary"]
    assert summary["done"] == 8
    assert sum(g["count"] for g in summary["genres"]) == 8
    genres = {entry["genre"] for entry in view["files"]}
    assert {g["genre"] for g in summary["genres"]} == genres
    counts = [g["count"] for g in summary["genres"]]
    assert counts == sorted(counts, reverse=True)
    electronic = sum(entry["genre"] == "electronic" for entry in view["files"])
    assert sum(s["count"] for s in summary["styles"]) == electronic
    assert 1 <= len(summary["tags"]) <= 10 and all(t["count"] >= 1 for t in summary["tags"])


def playlist(client, job_id: str, query: str):
    response = client.get(f"/jobs/{job_id}/playlist.m3u8?{query}")
    return response, response.get_data(as_text=True)


def test_the_playlist_of_a_files_genre_lists_it_best_first(served):
    _, client, view = served
    for entry in view["files"]:
        response, text = playlist(client, view["id"], f"genre={entry['genre']}")
        assert response.status_code == 200 and response.mimetype == "audio/x-mpegurl"
        assert "attachment" in response.headers["Content-Disposition"]
        lines = text.splitlines()
        assert lines[0] == "#EXTM3U"
        assert f"#EXTINF:10,{entry['genre']} - {entry['filename']}" in lines
        paths = lines[2::2]
        assert entry["filename"] in paths
        members = {f["filename"]: f["confidence"] for f in view["files"] if f["genre"] == entry["genre"]}
        assert sorted(paths) == sorted(members)
        assert [members[p] for p in paths] == sorted(members.values(), reverse=True)


def test_playlists_by_tag_style_and_likeness(served):
    _, client, view = served
    tag = client.get(f"/jobs/{view['id']}").get_json()["summary"]["tags"][0]
    response, text = playlist(client, view["id"], f"tag={tag['tag'].upper()}")  # tags match without case
    assert response.status_code == 200 and len(text.splitlines()[2::2]) == tag["count"]
    styles = client.get(f"/jobs/{view['id']}").get_json()["summary"]["styles"]
    for style in styles:
        _, text = playlist(client, view["id"], f"style={style['style']}")
        assert len(text.splitlines()[2::2]) == style["count"]
    soft = [f for f in view["files"] if kind(f["filename"]) == SOFT][0]
    _, text = playlist(client, view["id"], f"like={soft['analysis_id']}")
    paths = text.splitlines()[2::2]
    assert paths[0] == soft["filename"] and len(paths) == 8
    assert {kind(p) for p in paths[:4]} == {SOFT} and {kind(p) for p in paths[4:]} == {DRUMS}


def test_bad_requests_are_clear_json_errors(served):
    _, client, view = served
    some = view["files"][0]["analysis_id"]
    cases = [
        (f"/analyses/{'0' * 16}/similar", 404, "not_found"),
        ("/analyses/not-an-id/similar", 404, "not_found"),
        (f"/analyses/{some}/similar?job={'0' * 16}", 404, "not_found"),
        (f"/analyses/{some}/similar?n=0", 400, "bad_n"),
        (f"/analyses/{some}/similar?n=101", 400, "bad_n"),
        (f"/analyses/{some}/similar?n=ten", 400, "bad_n"),
        (f"/analyses/{some}/similar?n=-3", 400, "bad_n"),
        (f"/jobs/{'0' * 16}/playlist.m3u8?genre=jazz", 404, "not_found"),
        (f"/jobs/{view['id']}/playlist.m3u8", 400, "choose_one"),
        (f"/jobs/{view['id']}/playlist.m3u8?genre=jazz&tag=sad", 400, "choose_one"),
        (f"/jobs/{view['id']}/playlist.m3u8?genre=polka", 400, "unknown_genre"),
        (f"/jobs/{view['id']}/playlist.m3u8?style=Polka", 400, "unknown_style"),
        (f"/jobs/{view['id']}/playlist.m3u8?tag=loud", 400, "unknown_tag"),
        (f"/jobs/{view['id']}/playlist.m3u8?like={'0' * 16}", 404, "not_found"),
    ]
    for url, status, code in cases:
        response = client.get(url)
        assert response.status_code == status, (url, response.get_data(as_text=True))
        assert response.get_json()["error"]["code"] == code, url
    message = client.get(f"/jobs/{view['id']}/playlist.m3u8?genre=polka").get_json()["error"]["message"]
    assert "blues" in message and "electronic" in message  # the valid ones are listed
    message = client.get(f"/jobs/{view['id']}/playlist.m3u8?style=x").get_json()["error"]["message"]
    assert "Downtempo" in message
    message = client.get(f"/jobs/{view['id']}/playlist.m3u8?tag=x").get_json()["error"]["message"]
    assert "chill" in message and "sad" in message


def test_an_analysis_without_a_vector_says_so(tmp_path, library):
    app = make_app(tmp_path)
    client = app.test_client()
    alone = upload(client, library[f"{DRUMS}-1.mp3"]).get_json()
    database = Database(app.config["DATABASE_URL"])
    with database.write() as connection:  # as a result stored before vectors were kept
        connection.execute(delete(embeddings))
    response = client.get(f"/analyses/{alone['id']}/similar")
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "no_vector"


@pytest.mark.parametrize("model, source", [("musicnn", "musicnn"), ("student", "student"), ("mfcc_cnn", "student")])
def test_every_model_stores_a_unit_vector_and_says_which_network_made_it(tmp_path, library, model, source):
    app = make_app(tmp_path)
    answer = upload(app.test_client(), library[f"{SOFT}-1.mp3"], query=f"?model={model}").get_json()
    assert "embedding" not in answer and "embedding_source" not in answer
    with Database(app.config["DATABASE_URL"]).read() as connection:
        row = connection.execute(select(embeddings)).one()
    vector = np.frombuffer(row.vector, "<f4")
    assert row.source == source and row.genre == answer["genre"]
    assert vector.shape == (64,) and abs(np.linalg.norm(vector) - 1) < 1e-5


def test_the_search_over_every_analysis_sees_vectors_that_arrive_and_forgets_those_dropped(tmp_path):
    from genrelens.explore.similar import similar
    from genrelens.jobs.database import results
    from genrelens.jobs.store import AnalysisStore

    (tmp_path / "db").mkdir(mode=0o700)
    database = Database(f"sqlite:///{tmp_path / 'db' / 'x.sqlite3'}")
    store = AnalysisStore(database, max_bytes=1 << 30, ttl_s=3600)
    signal = np.zeros(10, np.float32)

    def add(name: str, vector: list[float]) -> tuple[str, str]:
        result_id, _ = store.add({"genre": "jazz"}, signal, name, "key", np.array(vector + [0.0] * 62), "musicnn")
        return result_id, store.attach(result_id, name, signal)

    _, probe = add("probe", [1.0, 0.0])
    far_result, far = add("far", [0.0, 1.0])
    assert [n.id for n in similar(database, probe, 5, scope="all")] == [far]
    _, near = add("near", [1.0, 0.1])
    assert [n.id for n in similar(database, probe, 5, scope="all")] == [near, far]
    with database.write() as connection:
        connection.execute(delete(results).where(results.c.id == far_result))
    assert [n.id for n in similar(database, probe, 5, scope="all")] == [near]
