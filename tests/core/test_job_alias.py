"""The client's id and the model's id of a reviewed job: paths out, answers back."""

from __future__ import annotations

import orjson

from gateway.core.job_alias import JobAlias

ALIAS = JobAlias(client_id="video_client", upstream_id="video_model_longer")


def test_only_the_job_segment_of_the_path_is_replaced() -> None:
    """The id in the path goes to the model as the model's; the query stays as it is."""
    assert ALIAS.upstream_target("/v1/videos/video_client") == "/v1/videos/video_model_longer"
    assert (
        ALIAS.upstream_target("/v1/videos/video_client/content?variant=thumbnail")
        == "/v1/videos/video_model_longer/content?variant=thumbnail"
    )
    assert ALIAS.upstream_target("/v1/videos?after=video_client") == "/v1/videos?after=video_client"


def test_answers_carry_the_clients_id_back() -> None:
    """`id` and `remixed_from_video_id` equal to the model's id become the client's id."""
    body = orjson.dumps({"id": "video_model_longer", "status": "completed", "prompt": "x"})
    assert orjson.loads(ALIAS.client_body(body)) == {
        "id": "video_client",
        "status": "completed",
        "prompt": "x",
    }
    remix = {"id": "video_new", "remixed_from_video_id": "video_model_longer"}
    assert ALIAS.to_client(remix) == {"id": "video_new", "remixed_from_video_id": "video_client"}


def test_other_answers_are_passed_on_byte_for_byte() -> None:
    """Non-JSON, non-objects and documents without the model's id are not re-encoded."""
    for body in (b"not json", b"[1, 2]", b'{"error": {"code": "x"}}'):
        assert ALIAS.client_body(body) is body
