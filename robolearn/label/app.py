"""The labelling web app (FastAPI): two clips side by side, a question, and four answers.

    from robolearn.label import PairSet, LabelLog, create_app, serve
    serve(PairSet.load("pairs.json"), LabelLog("labels.jsonl"))   # http://127.0.0.1:8765/

Routes: ``GET /`` the page; ``GET /api/next`` the first unlabelled pair (or ``pair: null``);
``POST /api/label`` ``{"pair_id", "choice", "labeller"?}``, stored durably before the reply;
``GET /api/labels`` the newest label per pair; ``GET /clip/{pair_id}/{side}`` the clip files.
Only clips named in the manifest are served. Keyboard: left arrow/a, right arrow/d,
down arrow/s (equal), x (skip).

Security: the server binds 127.0.0.1 by default. On any other address a token is required
(`LabelServerError` otherwise); every request must then carry it as ``?token=`` or the
``X-Label-Token`` header (the page forwards the token from its own URL).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel

from robolearn.label.log import CHOICES, LabelLog, LabelRecord
from robolearn.label.page import PAGE
from robolearn.label.pairs import IMAGE_TYPES, VIDEO_TYPES, PairSet

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


class LabelServerError(RuntimeError):
    """The server cannot start as configured; the message says what to change."""


class LabelIn(BaseModel):
    pair_id: str
    choice: str
    labeller: str | None = None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_app(
    pairs: PairSet, labels: LabelLog, *, token: str | None = None, labeller: str = "anonymous"
) -> FastAPI:
    """The app over a pair set and a label log. ``token``: required on every request if set;
    ``labeller``: the name stored when the page does not send one (``?labeller=`` in its URL)."""
    by_id = pairs.by_id()
    app = FastAPI(title="robolearn labelling", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def check_token(request: Request, call_next: Any) -> Any:
        if token is not None:
            given = request.query_params.get("token") or request.headers.get("x-label-token", "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"detail": "missing or wrong token"}, status_code=401)
        return await call_next(request)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE

    def kind(path: Any) -> str:
        return "image" if path.suffix.lower() in IMAGE_TYPES else "video"

    @app.get("/api/next")
    def next_pair() -> dict[str, Any]:
        done = labels.latest()
        todo = [p for p in pairs.pairs if p.pair_id not in done]
        pair = None
        if todo:
            p = todo[0]
            pair = {
                "id": p.pair_id,
                "left_url": f"clip/{p.pair_id}/left",
                "right_url": f"clip/{p.pair_id}/right",
                "left_kind": kind(p.left),
                "right_kind": kind(p.right),
            }
        return {
            "question": pairs.question,
            "pair": pair,
            "labelled": len(pairs.pairs) - len(todo),
            "total": len(pairs.pairs),
        }

    @app.post("/api/label")
    def post_label(body: LabelIn) -> dict[str, Any]:
        if body.pair_id not in by_id:
            raise HTTPException(404, f"unknown pair {body.pair_id!r}")
        if body.choice not in CHOICES:
            raise HTTPException(422, f"choice must be one of {', '.join(CHOICES)}")
        record = LabelRecord(
            pair_id=body.pair_id,
            choice=body.choice,
            labeller=body.labeller or labeller,
            meta=by_id[body.pair_id].meta,
        )
        labels.append(record)
        log.info("label %s = %s by %s", record.pair_id, record.choice, record.labeller)
        return {"stored": record.to_json()}

    @app.get("/api/labels")
    def all_labels() -> dict[str, Any]:
        return {k: v.to_json() for k, v in labels.latest().items()}

    @app.get("/clip/{pair_id}/{side}")
    def clip(pair_id: str, side: str) -> FileResponse:
        if pair_id not in by_id or side not in ("left", "right"):
            raise HTTPException(404, "no such clip")
        path = getattr(by_id[pair_id], side)
        if not path.is_file():
            raise HTTPException(404, f"clip file missing on the server: {path.name}")
        suffix = path.suffix.lower()
        return FileResponse(path, media_type=(VIDEO_TYPES | IMAGE_TYPES)[suffix])

    return app


def check_binding(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token."""
    if not is_loopback(host) and not token:
        raise LabelServerError(
            f"binding the labelling page to {host} exposes it beyond this machine; pass a token"
            " (robolearn label serve --token SECRET) or bind 127.0.0.1"
        )


def serve(
    pairs: PairSet,
    labels: LabelLog,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    labeller: str = "anonymous",
) -> None:
    """Run the labelling server until interrupted (uvicorn)."""
    import uvicorn

    check_binding(host, token)
    app = create_app(pairs, labels, token=token, labeller=labeller)
    query = f"?token={token}" if token else ""
    print(f"labelling {len(pairs.pairs)} pairs at http://{host}:{port}/{query} -> {labels.path}")
    uvicorn.run(app, host=host, port=port, log_level="warning")
