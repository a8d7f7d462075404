"""The labelling app over HTTP (FastAPI TestClient): answers, persistence, tokens, manifests."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from robolearn.label import (
    LabelLog,
    LabelRecord,
    LabelServerError,
    ManifestError,
    PairSet,
    check_binding,
    create_app,
)


def test_label_flow_and_restart_persistence(pair_set, tmp_path):
    log_path = tmp_path / "labels.jsonl"
    client = TestClient(create_app(pair_set, LabelLog(log_path), labeller="ann"))
    page = client.get("/")
    assert page.status_code == 200 and "btn-left" in page.text
    first = client.get("/api/next").json()
    assert first["pair"]["id"] == "p0" and first["total"] == 3 and first["labelled"] == 0
    assert first["question"] == "Which robot does better?"
    clip = client.get("/" + first["pair"]["left_url"])
    assert clip.status_code == 200 and clip.headers["content-type"] == "video/webm"
    assert clip.content[:4] == b"\x1a\x45\xdf\xa3"  # EBML magic: a real WebM file
    assert client.post("/api/label", json={"pair_id": "p0", "choice": "left"}).status_code == 200
    assert client.post("/api/label", json={"pair_id": "p1", "choice": "skip"}).status_code == 200
    assert client.get("/api/next").json()["pair"]["id"] == "p2"

    # "restart": a new app over the same file sees every answer
    client2 = TestClient(create_app(pair_set, LabelLog(log_path)))
    state = client2.get("/api/next").json()
    assert state["labelled"] == 2 and state["pair"]["id"] == "p2"
    labels = client2.get("/api/labels").json()
    assert labels["p0"]["choice"] == "left" and labels["p0"]["labeller"] == "ann"
    assert labels["p0"]["meta"] == {"index": 0}
    # relabel: the newest answer wins
    client2.post("/api/label", json={"pair_id": "p0", "choice": "equal", "labeller": "bob"})
    latest = LabelLog(log_path).latest()
    assert latest["p0"].choice == "equal" and latest["p0"].labeller == "bob"
    assert len(LabelLog(log_path).records()) == 3


def test_rejects_bad_answers(pair_set, tmp_path):
    client = TestClient(create_app(pair_set, LabelLog(tmp_path / "l.jsonl")))
    assert client.post("/api/label", json={"pair_id": "nope", "choice": "left"}).status_code == 404
    assert client.post("/api/label", json={"pair_id": "p0", "choice": "up"}).status_code == 422
    assert client.get("/clip/p0/middle").status_code == 404
    assert not (tmp_path / "l.jsonl").exists()


def test_token_required_when_set(pair_set, tmp_path):
    client = TestClient(create_app(pair_set, LabelLog(tmp_path / "l.jsonl"), token="s3cret"))
    assert client.get("/").status_code == 401
    assert client.get("/api/next?token=wrong").status_code == 401
    assert client.get("/?token=s3cret").status_code == 200
    assert client.get("/api/next", headers={"X-Label-Token": "s3cret"}).status_code == 200
    check_binding("127.0.0.1", None)
    check_binding("localhost", None)
    with pytest.raises(LabelServerError, match="token"):
        check_binding("0.0.0.0", None)
    check_binding("0.0.0.0", "s3cret")


def test_torn_last_line_is_ignored_and_repaired(tmp_path):
    path = tmp_path / "labels.jsonl"
    log = LabelLog(path)
    log.append(LabelRecord("a", "left"))
    with open(path, "a") as f:
        f.write('{"pair_id": "b", "cho')  # a crash mid-write
    assert [r.pair_id for r in log.records()] == ["a"]
    log.append(LabelRecord("c", "right"))
    assert [r.pair_id for r in log.records()] == ["a", "c"]


def test_manifest_round_trip_and_errors(pair_set, tmp_path):
    path = pair_set.save(tmp_path / "pairs.json")
    raw = json.loads(path.read_text())
    assert raw["pairs"][0]["left"] == "clips/p0_left.webm"  # relative to the manifest
    loaded = PairSet.load(path)
    assert loaded.question == pair_set.question
    assert [p.left.resolve() for p in loaded.pairs] == [p.left.resolve() for p in pair_set.pairs]
    (tmp_path / "bad.json").write_text(json.dumps({"pairs": [{"id": "x", "left": "a.webm"}]}))
    with pytest.raises(ManifestError, match="right"):
        PairSet.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="choice"):
        LabelRecord("x", "maybe")
