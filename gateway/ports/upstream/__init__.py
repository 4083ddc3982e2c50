from gateway.ports.upstream.base import Headers, RequestBody, Upstream, UpstreamResponse

__all__ = ["Headers", "RequestBody", "Upstream", "UpstreamResponse"]
