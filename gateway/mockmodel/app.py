"""Starlette app speaking the OpenAI video API shape, backed by in-memory jobs."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway.mockmodel.jobs import InputReference, Job, JobNotFoundError, JobStore
from gateway.mockmodel.media import CHUNK_SIZE, MediaBundle, iter_chunks, load_bundle
from gateway.mockmodel.recorder import DEFAULT_CAPACITY, RecordingMiddleware, RequestLog
from gateway.mockmodel.responses import ERROR_HANDLERS, OrjsonResponse
from gateway.mockmodel.validation import (
    KNOWN_MODELS,
    VARIANT_MEDIA_TYPES,
    ApiError,
    body_kind,
    not_found,
    parse_json_object,
    validate_create,
    validate_list,
    validate_remix,
    validate_variant,
)


def _not_ready(job: Job, status: str) -> ApiError:
    # Refusing with 400 invalid_request_error (not 404) keeps "no such video"
    # distinguishable from "video exists but has no content yet"; the code says which.
    if status == "failed":
        return ApiError(
            400, f"Video '{job.id}' failed and has no content", code="video_generation_failed"
        )
    return ApiError(400, "Video is not ready yet", code="video_not_ready")


async def _digest_upload(upload: UploadFile) -> InputReference:
    digest = hashlib.sha256()
    size = 0
    while chunk := await upload.read(CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
    return InputReference(size=size, sha256=digest.hexdigest(), content_type=upload.content_type)


async def _read_multipart(request: Request) -> tuple[dict[str, object], InputReference | None]:
    """The form's fields, and the digest of its `input_reference` file if it has one."""
    try:
        form = await request.form()
    except (MultiPartException, HTTPException) as exc:
        detail = exc.message if isinstance(exc, MultiPartException) else exc.detail
        raise ApiError(
            400, f"Malformed multipart body: {detail}", code="invalid_multipart"
        ) from exc
    try:
        fields: dict[str, object] = {}
        reference: InputReference | None = None
        for name, value in form.multi_items():
            if name == "input_reference" and isinstance(value, UploadFile):
                reference = await _digest_upload(value)
            else:
                fields[name] = value
        return fields, reference
    finally:
        await form.close()


class _VideoApi:
    def __init__(
        self, store: JobStore, media: MediaBundle, log: RequestLog, create_delay: float = 0.0
    ) -> None:
        self.store = store
        self.media = media
        self.log = log
        self.create_delay = create_delay
        # Built once so every download shares one buffer instead of copying it.
        self.video_view = memoryview(media.video)
        self.video_headers = {"content-length": str(len(media.video))}

    def _job(self, request: Request) -> Job:
        video_id: str = request.path_params["video_id"]
        try:
            return self.store.get(video_id)
        except JobNotFoundError:
            raise not_found(video_id) from None

    async def create(self, request: Request) -> Response:
        # Like the real service: a create repeated with its Idempotency-Key gets the job
        # the first one made (at once), never a second job.
        key = request.headers.get("idempotency-key")
        earlier = self.store.created_with(key)
        if earlier is not None:
            return OrjsonResponse(self.store.to_object(earlier))
        reference: InputReference | None = None
        if body_kind(request.headers.get("content-type")) == "json":
            params = validate_create(parse_json_object(await request.body()))
            reference = params.input_reference
        else:
            fields, reference = await _read_multipart(request)
            params = validate_create(fields)
        job = self.store.create(
            model=params.model,
            prompt=params.prompt,
            size=params.size,
            seconds=params.seconds,
            input_reference=reference,
            idempotency_key=key,
        )
        if self.create_delay:
            # The job exists before the answer leaves: a client that gives up waiting and
            # retries with its key must get this job, not a second one.
            await asyncio.sleep(self.create_delay)
        return OrjsonResponse(self.store.to_object(job))

    async def remix(self, request: Request) -> Response:
        # The request shape is checked before the source lookup, as schema
        # validation precedes resource resolution in the real service.
        if body_kind(request.headers.get("content-type")) == "json":
            prompt = validate_remix(parse_json_object(await request.body()))
        else:
            fields, reference = await _read_multipart(request)
            if reference is not None:
                fields["input_reference"] = reference
            prompt = validate_remix(fields)
        source = self._job(request)
        if self.store.progress(source).status != "completed":
            raise ApiError(
                400,
                f"Video '{source.id}' is not completed and cannot be remixed",
                code="video_not_ready",
            )
        job = self.store.create(
            model=source.model,
            prompt=prompt,
            size=source.size,
            seconds=source.seconds,
            remixed_from_video_id=source.id,
        )
        return OrjsonResponse(self.store.to_object(job))

    async def retrieve(self, request: Request) -> Response:
        return OrjsonResponse(self.store.to_object(self._job(request)))

    async def content(self, request: Request) -> Response:
        variant = validate_variant(request.query_params.get("variant"))
        job = self._job(request)
        status = self.store.progress(job).status
        if status != "completed":
            raise _not_ready(job, status)
        if variant == "video":
            return StreamingResponse(
                iter_chunks(self.video_view), media_type="video/mp4", headers=self.video_headers
            )
        return Response(self.media.asset(variant), media_type=VARIANT_MEDIA_TYPES[variant])

    async def list(self, request: Request) -> Response:
        params = validate_list(request.query_params)
        try:
            page = self.store.page(after=params.after, limit=params.limit, order=params.order)
        except JobNotFoundError:
            # An unknown cursor is a bad query parameter on a collection that does
            # exist, so it is a 400 naming `after` rather than a 404.
            raise ApiError(
                400,
                f"Invalid value for 'after': video '{params.after}' not found",
                param="after",
                code="invalid_value",
            ) from None
        data = [self.store.to_object(job) for job in page.jobs]
        return OrjsonResponse(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": page.has_more,
            }
        )

    async def delete(self, request: Request) -> Response:
        job = self._job(request)
        self.store.delete(job.id)
        return OrjsonResponse({"id": job.id, "object": "video.deleted", "deleted": True})

    async def models(self, request: Request) -> Response:
        return OrjsonResponse({"object": "list", "data": [_model(m) for m in sorted(KNOWN_MODELS)]})

    async def model(self, request: Request) -> Response:
        name = request.path_params["model"]
        if name not in KNOWN_MODELS:
            raise ApiError(404, f"The model '{name}' does not exist", param="model")
        return OrjsonResponse(_model(name))

    async def recorded(self, request: Request) -> Response:
        return OrjsonResponse({"object": "list", "data": self.log.snapshot()})

    async def clear_recorded(self, request: Request) -> Response:
        return OrjsonResponse({"cleared": self.log.clear()})


Endpoint = Callable[[Request], Awaitable[Response]]
# When the mock's models were "released": a fixed date, so answers are reproducible.
_MODELS_CREATED = 1_759_276_800


def _model(name: str) -> dict[str, object]:
    return {"id": name, "object": "model", "created": _MODELS_CREATED, "owned_by": "system"}


def _route(path: str, handlers: dict[str, Endpoint]) -> Route:
    """One route per path, so a 405 lists every allowed method in its Allow header."""

    async def dispatch(request: Request) -> Response:
        # Starlette answers HEAD on GET routes; HEAD is served by the GET handler.
        handler = handlers.get(request.method) or handlers["GET"]
        return await handler(request)

    return Route(path, dispatch, methods=list(handlers))


def create_mock_app(
    *,
    job_seconds: float = 3.0,
    content_size: int | None = None,
    clock: Callable[[], float] = time.time,
    max_jobs: int = 100_000,
    record: int = DEFAULT_CAPACITY,
    create_delay: float = 0.0,
) -> Starlette:
    """Build the mock video API.

    `job_seconds` is how long a job takes from creation to completion; `content_size`
    pads the served MP4 to exactly that many bytes; `max_jobs` bounds memory by
    forgetting the oldest jobs; `record` is how many requests `/_mock/requests`
    remembers; `create_delay` holds back the answer to each new create (not to a
    repeat with the same Idempotency-Key) that many seconds. The job store and request
    log are exposed as `app.state.jobs` and `app.state.requests` for in-process
    inspection.
    """
    store = JobStore(job_seconds=job_seconds, clock=clock, max_jobs=max_jobs)
    log = RequestLog(record)
    api = _VideoApi(store, load_bundle(content_size), log, create_delay)
    routes = [
        _route("/v1/videos", {"GET": api.list, "POST": api.create}),
        _route("/v1/videos/{video_id}", {"GET": api.retrieve, "DELETE": api.delete}),
        _route("/v1/videos/{video_id}/content", {"GET": api.content}),
        _route("/v1/videos/{video_id}/remix", {"POST": api.remix}),
        _route("/v1/models", {"GET": api.models}),
        _route("/v1/models/{model}", {"GET": api.model}),
        _route("/_mock/requests", {"GET": api.recorded, "DELETE": api.clear_recorded}),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RecordingMiddleware, log=log)],
        exception_handlers=ERROR_HANDLERS,
    )
    app.state.jobs = store
    app.state.requests = log
    return app
