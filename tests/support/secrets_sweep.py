"""The suite-wide secrets sweep: no secret the tests used may reach any log stream they produced.

The guarantee ("no token, client secret or upstream key ever appears in a log line") is
about every log line, so no single test can check it. This plugin records, for the whole
session, every secret the tests handle (client secrets granted, access tokens obtained,
upstream keys given to gateways, Authorization and Cookie values sent) and every stream a
gateway writes (in-process structlog and standard-library logging, the output of every
`phasegate` process the support helpers start, the captured output of every test, every
audit segment under the session's temporary directory, and the streams of every test Redis
server before it is flushed or stopped). The check runs as the last
test of the session and again when the session ends, for what came after that test or
when a run selected only some tests: a leak fails the run either way.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl

import httpx
import pytest
import structlog

from gateway.edges.logging import configure_logging

MARKER = "secrets_sweep"
# Shorter or plainer values are test placeholders, not secrets; searching for them would only
# find them where they belong (in a status word, a principal's name).
MIN_LENGTH = 16
MIN_DISTINCT = 8
# Secrets are found through windows of this many characters of their longest piece that is
# made of token characters; every secret worth searching has one (or is searched plainly).
_KEY = 16
_PIECE = re.compile(r"[A-Za-z0-9_-]+")
_RUN = re.compile(rf"[A-Za-z0-9_-]{{{_KEY},}}")
_SHORT_RUN = re.compile(r"[A-Za-z0-9_-]{6,}")
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_GRANTED_SECRET = re.compile(r'"?client_secret"?\s*:?\s+"?([^\s"]+)')
# CLI answers that carry a secret by design: `grant` prints the new client secret once, and
# `demo` prints the credentials it made. Their other stream (stderr) is still swept.
_SECRET_ANSWERS = frozenset({"grant", "demo"})
_CONTEXT = 60
_TEE = "in-process.log"
_CAPTURED = "captured-output.log"


@dataclass(frozen=True)
class Secret:
    kind: str
    value: str = field(repr=False)  # a failing test's report may print any object it holds
    origin: str = ""

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.value.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Leak:
    secret: Secret
    stream: str
    section: str
    excerpt: str


@dataclass(frozen=True)
class Outcome:
    leaks: list[Leak]
    secrets: int
    streams: int
    size: int
    seconds: float
    leaks_in_session: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    kept_in: Path | None = None

    def summary(self) -> str:
        found = max(len(self.leaks), self.leaks_in_session)
        verdict = f"{found} LEAK(S)" if found else "clean"
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(self.kinds.items()))
        return (
            f"secrets sweep: {self.secrets} secrets searched for in {self.streams} log streams "
            f"({self.size / 1e6:.1f} MB) in {self.seconds:.2f} s: {verdict}"
            + (f"\n  secrets by kind: {kinds}" if kinds else "")
        )

    def report(self) -> str:
        kept = [f"  (the streams are kept in {self.kept_in})"] if self.kept_in else []
        return "\n".join([self.summary(), *describe(self.leaks), *kept])


def worth_searching(value: str) -> bool:
    return len(value) >= MIN_LENGTH and len(set(value)) >= MIN_DISTINCT


def _anchor(value: str) -> str | None:
    # The last long piece: for a JWT its signature, the one part no two tokens share.
    pieces = [piece for piece in _PIECE.findall(value) if len(piece) >= _KEY]
    return pieces[-1] if pieces else None


def find_leaks(secrets: Iterable[Secret], streams: Iterable[tuple[str, str]]) -> list[Leak]:
    """Every (secret, stream) where the stream's text contains the secret, with an excerpt.

    Exact and complete: an occurrence of a secret contains its anchor, and the anchor lies
    inside one maximal run of token characters of the text, where a window finds it. Only
    the distinct runs of a stream are windowed, so the cost follows the stream's ids and
    hashes, not the number of secrets.
    """
    index: dict[str, list[Secret]] = {}
    plain: list[Secret] = []
    every: list[Secret] = []
    for secret in secrets:
        every.append(secret)
        anchor = _anchor(secret.value)
        if anchor is None:
            plain.append(secret)
        else:
            index.setdefault(anchor[:_KEY], []).append(secret)
    known = "\n".join(secret.value for secret in every)
    leaks: list[Leak] = []
    for name, text in streams:
        candidates: dict[str, Secret] = {secret.value: secret for secret in plain}
        for run in set(_RUN.findall(text)):
            for start in range(len(run) - _KEY + 1):
                for secret in index.get(run[start : start + _KEY], ()):
                    candidates[secret.value] = secret
        for secret in candidates.values():
            at = text.find(secret.value)
            if at >= 0:
                excerpt = _excerpt(text, at, secret, known)
                leaks.append(Leak(secret, name, _section(text, at), excerpt))
    return leaks


def _section(text: str, at: int) -> str:
    """The "# ..." header above a position: files that gather many tests' output name the
    test each part came from."""
    start = text.rfind("\n# ", 0, at) + 1
    if start == 0 and not text.startswith("# "):
        return ""
    end = text.find("\n", start)
    return text[start + 2 : end if end >= 0 else None]


def _excerpt(text: str, at: int, secret: Secret, known: str) -> str:
    """The leak in its context, with every piece of any registered secret masked."""
    before = text[max(0, at - _CONTEXT) : at]
    after = text[at + len(secret.value) : at + len(secret.value) + _CONTEXT]

    def mask(part: str) -> str:
        return _SHORT_RUN.sub(lambda m: "…" if m.group() in known else m.group(), part)

    placeholder = f"<{secret.kind} {secret.fingerprint}>"
    return (mask(before) + placeholder + mask(after)).replace("\n", "⏎")


def describe(leaks: Sequence[Leak]) -> list[str]:
    lines: list[str] = []
    for leak in leaks:
        origin = f", used by {leak.secret.origin}" if leak.secret.origin else ""
        lines.append(f"  {leak.secret.kind} {leak.secret.fingerprint}{origin}")
        shared = leak.section and leak.section != leak.stream
        where = f", in the part of {leak.section}" if shared else ""
        lines.append(f"    found in {leak.stream}{where}")
        lines.append(f"    {leak.excerpt}")
    return lines


def _current_test() -> str:
    return os.environ.get("PYTEST_CURRENT_TEST", "").rpartition(" ")[0]


@dataclass
class _Stream:
    name: str
    path: Path


@dataclass
class Sweep:
    """The session's registry of secrets and streams, and the check over them."""

    directory: Path | None = None
    roots: list[Path] = field(default_factory=list)
    _secrets: dict[str, Secret] = field(default_factory=dict)
    _streams: list[_Stream] = field(default_factory=list)
    _texts: list[tuple[str, str]] = field(default_factory=list)
    _checked_secrets: set[str] = field(default_factory=set)
    _checked_streams: dict[Path, int] = field(default_factory=dict)
    _reported: set[tuple[str, str]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _count: int = 0
    _tee: IO[bytes] | None = None
    _seconds: float = 0.0

    # Secrets ------------------------------------------------------------------------

    def add_secret(self, kind: str, value: str | None) -> None:
        if value is None or not worth_searching(value):
            return
        with self._lock:
            self._secrets.setdefault(value, Secret(kind, value, _current_test()))

    def add_token(self, token: str, kind: str = "access token") -> None:
        self.add_secret(kind, token)
        if _JWT.match(token):
            # A log that cuts a token short can still print its signature, the secret part.
            self.add_secret(f"{kind} signature", token.rpartition(".")[2])

    def add_authorization(self, value: str) -> None:
        scheme, _, credential = value.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() == "bearer" and credential:
            self.add_token(credential)
        elif scheme.lower() == "basic" and credential:
            self.add_secret("Authorization header", credential)
            try:
                decoded = base64.b64decode(credential, validate=True).decode()
            except (binascii.Error, ValueError):  # not base64 (nor ASCII), or not UTF-8
                return
            self.add_secret("client secret", decoded.partition(":")[2])
        else:
            self.add_token(value.strip(), kind="Authorization header")

    def add_cookie(self, header: str) -> None:
        for pair in header.split(";"):
            self.add_secret("cookie", pair.partition("=")[2].strip())

    def add_granted(self, answer: str) -> None:
        """The client secret in `phasegate grant` output, as a table or as JSON."""
        for match in _GRANTED_SECRET.finditer(answer):
            self.add_secret("client secret", match.group(1))

    def add_arguments(self, args: Sequence[str], env: dict[str, str] | None = None) -> None:
        """The upstream key handed to a `phasegate` process, by flag or by variable."""
        for number, arg in enumerate(args):
            if arg == "--upstream-key" and number + 1 < len(args):
                self.add_secret("upstream key", args[number + 1])
            elif arg.startswith("--upstream-key="):
                self.add_secret("upstream key", arg.partition("=")[2])
        self.add_secret("upstream key", (env or {}).get("PHASEGATE_UPSTREAM_KEY"))

    def observe_request(self, request: httpx.Request) -> None:
        for name in ("authorization", "proxy-authorization"):
            for value in request.headers.get_list(name):
                self.add_authorization(value)
        for value in request.headers.get_list("cookie"):
            self.add_cookie(value)
        if "x-www-form-urlencoded" not in request.headers.get("content-type", ""):
            return
        try:
            form = parse_qsl(request.content.decode(errors="replace"))
        except httpx.RequestNotRead:
            return
        for key, value in form:
            if key == "client_secret":
                self.add_secret("client secret", value)
            elif key in ("token", "access_token"):
                self.add_token(value)

    def observe_response(self, request: httpx.Request, response: httpx.Response) -> None:
        if not request.url.path.endswith("/oauth/token") or response.status_code != 200:
            return
        try:
            token = response.json().get("access_token")
        except (httpx.ResponseNotRead, ValueError, AttributeError):
            return
        if isinstance(token, str):
            self.add_token(token)

    def registered(self) -> list[Secret]:
        with self._lock:
            return list(self._secrets.values())

    # Streams ------------------------------------------------------------------------

    def add_output(self, label: str, text: str | None) -> None:
        """A stream that exists as text (a finished process's output), kept as a file."""
        if text:
            self._keep(f"{label} ({_current_test() or 'outside the tests'})", text)

    def _keep(self, name: str, text: str) -> None:
        with self._lock:
            if self.directory is None:
                self._texts.append((name, text))
                return
            self._count += 1
            slug = re.sub(r"[^A-Za-z0-9]+", "-", name.partition(" (")[0])[:40].strip("-")
            path = self.directory / f"{self._count:05d}-{slug}.log"
            path.write_text(f"# {name}\n{text}")
            self._streams.append(_Stream(name, path))

    def add_file(self, name: str, path: Path) -> None:
        with self._lock:
            self._streams.append(_Stream(name, path))

    def add_process(
        self,
        args: Sequence[str],
        stdout: str | None,
        stderr: str | None,
        env: dict[str, str] | None = None,
    ) -> None:
        command = args[0] if args else "phasegate"
        self.add_arguments(args, env)
        if command == "grant" and stdout:
            self.add_granted(stdout)
        if command not in _SECRET_ANSWERS:
            self.add_output(f"phasegate {command} stdout", stdout)
        self.add_output(f"phasegate {command} stderr", stderr)

    def write_line(self, line: bytes) -> None:
        with self._lock:
            if self._tee is not None:
                self._tee.write(line + b"\n")

    # The check ----------------------------------------------------------------------

    def _all_streams(self) -> list[_Stream]:
        with self._lock:
            streams = list(self._streams)
        seen = {stream.path for stream in streams}
        for root in self.roots:
            for path in sorted(root.rglob("*.jsonl")):
                if self.directory not in path.parents and path not in seen:
                    streams.append(_Stream(f"audit segment {path.relative_to(root)}", path))
        return streams

    def check(self) -> Outcome:
        """Searches what was not searched yet: new streams for every secret, old streams
        for new secrets. A leak is reported once, by the first check that sees it."""
        started = time.perf_counter()
        with self._lock:
            if self._tee is not None:
                self._tee.flush()
            secrets = list(self._secrets.values())
            texts = list(self._texts)
        fresh = [secret for secret in secrets if secret.value not in self._checked_secrets]
        old: list[tuple[str, str]] = []
        new: list[tuple[str, str]] = list(texts)
        size = sum(len(text) for _, text in texts)
        streams = self._all_streams()
        for stream in streams:
            try:
                data = stream.path.read_bytes()
            except FileNotFoundError:
                continue
            size += len(data)
            text = data.decode(errors="replace")
            if self._checked_streams.get(stream.path) == len(data):
                old.append((stream.name, text))
            else:
                new.append((stream.name, text))
            self._checked_streams[stream.path] = len(data)
        leaks = find_leaks(secrets, new)
        if fresh and old:
            leaks += find_leaks(fresh, old)
        self._checked_secrets.update(secret.value for secret in fresh)
        unreported = []
        for leak in leaks:
            key = (leak.secret.value, leak.stream)
            if key not in self._reported:
                self._reported.add(key)
                unreported.append(leak)
        self._seconds += time.perf_counter() - started
        return Outcome(
            unreported,
            len(secrets),
            len(streams) + len(texts),
            size,
            self._seconds,
            len(self._reported),
            dict(Counter(secret.kind for secret in secrets)),
            self.directory,
        )

    def assert_clean(self) -> Outcome:
        outcome = self.check()
        if outcome.leaks:
            # Not an assert: its explanation would print the leaks, secrets and all.
            pytest.fail(outcome.report(), pytrace=False)
        return outcome

    # Recording ----------------------------------------------------------------------

    def start(self, directory: Path, root: Path) -> None:
        self.directory = directory
        self.roots.append(root)
        self._tee = (directory / _TEE).open("ab")
        (directory / _CAPTURED).touch()
        self.add_file("in-process gateway logs", directory / _TEE)
        self.add_file("captured output of the tests", directory / _CAPTURED)
        texts, self._texts = self._texts, []
        for name, text in texts:
            self._keep(name, text)

    def stop(self) -> None:
        with self._lock:
            if self._tee is not None:
                self._tee.close()
                self._tee = None

    def capture(self, report: pytest.TestReport) -> None:
        # Each phase's report repeats the earlier phases' sections: keep only its own.
        sections = [
            (title, text)
            for title, text in report.sections
            if title.startswith("Captured std") and title.endswith(f" {report.when}")
        ]
        if not sections or self.directory is None:
            return
        with (self.directory / _CAPTURED).open("a") as out:
            for title, text in sections:
                out.write(f"# {report.nodeid}: {title}\n{text}\n")

    def mark(self, nodeid: str) -> None:
        self.write_line(f"# {nodeid}".encode())


SWEEP = Sweep()


# In-process logging -----------------------------------------------------------------


class _TeeLogger:
    """A structlog logger: each rendered line to the sweep's file and to stderr, as in
    production, so a failing test still shows its gateway's logs."""

    def msg(self, message: bytes | str) -> None:
        line = message if isinstance(message, bytes) else message.encode()
        SWEEP.write_line(line)
        sys.stderr.write(line.decode(errors="replace") + "\n")

    log = debug = info = warn = warning = error = err = fatal = exception = critical = msg


class _TeeHandler(logging.Handler):
    """Standard-library records (uvicorn, asyncio, clients) through the production formatter."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            SWEEP.write_line(self.format(record).encode())
        except Exception:  # a record that cannot be formatted must not break the test
            self.handleError(record)


@dataclass
class _Logging:
    """The production logging pipeline (its processors and its redaction) at debug level,
    writing to the sweep; put back before each test, since tests may reconfigure logging."""

    processors: list[Any]
    wrapper: Any
    handler: logging.Handler
    logger: _TeeLogger = field(default_factory=_TeeLogger)

    @classmethod
    def production(cls) -> _Logging:
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            configure_logging("debug")
            installed = [handler for handler in root.handlers if handler not in handlers]
            config = structlog.get_config()
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)
        handler = _TeeHandler()
        handler.setFormatter(installed[0].formatter)
        return cls(list(config["processors"]), config["wrapper_class"], handler)

    def factory(self, *_: Any) -> _TeeLogger:
        return self.logger

    def install(self) -> None:
        # Bound methods are made anew at each access: equal, never identical.
        if structlog.get_config()["logger_factory"] != self.factory:
            structlog.configure(
                processors=self.processors,
                wrapper_class=self.wrapper,
                logger_factory=self.factory,
                cache_logger_on_first_use=False,
            )
        root = logging.getLogger()
        if self.handler not in root.handlers:
            root.addHandler(self.handler)

    def uninstall(self) -> None:
        structlog.reset_defaults()
        logging.getLogger().removeHandler(self.handler)


def _observe(request: httpx.Request) -> None:
    SWEEP.observe_request(request)


async def _observe_async(request: httpx.Request) -> None:
    SWEEP.observe_request(request)


def _watch_clients(patch: pytest.MonkeyPatch) -> None:
    """Every request any httpx client sends, and every token it is given.

    Requests are seen through the client's request hooks, which run once authentication
    (`auth=`) has put its header on: `send` itself sees the request before that.
    """
    send = httpx.Client.send
    send_async = httpx.AsyncClient.send

    def watched(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        if _observe not in self.event_hooks["request"]:
            self.event_hooks["request"].append(_observe)
        response = send(self, request, **kwargs)
        SWEEP.observe_response(request, response)
        return response

    async def watched_async(
        self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any
    ) -> httpx.Response:
        if _observe_async not in self.event_hooks["request"]:
            self.event_hooks["request"].append(_observe_async)
        response = await send_async(self, request, **kwargs)
        SWEEP.observe_response(request, response)
        return response

    patch.setattr(httpx.Client, "send", watched)
    patch.setattr(httpx.AsyncClient, "send", watched_async)


# The plugin -------------------------------------------------------------------------


@dataclass
class _Session:
    logging: _Logging | None = None
    outcome: Outcome | None = None


_SESSION = _Session()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: the suite-wide secrets sweep; runs after every other test"
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker(MARKER) is not None)


@pytest.fixture(scope="session", autouse=True)
def _secrets_sweep_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sweep]:
    root = tmp_path_factory.getbasetemp()
    SWEEP.start(tmp_path_factory.mktemp("secrets-sweep", numbered=False), root)
    _SESSION.logging = _Logging.production()
    with pytest.MonkeyPatch.context() as patch:
        _watch_clients(patch)
        try:
            yield SWEEP
        finally:
            _SESSION.logging.uninstall()
            SWEEP.stop()


@pytest.fixture(autouse=True)
def _secrets_sweep_logging(request: pytest.FixtureRequest, _secrets_sweep_session: Sweep) -> None:
    assert _SESSION.logging is not None
    _SESSION.logging.install()
    SWEEP.mark(request.node.nodeid)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    SWEEP.capture(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # A run stopped short (interrupted, a usage error) reports what stopped it, nothing else.
    if session.config.option.collectonly or exitstatus not in (
        pytest.ExitCode.OK,
        pytest.ExitCode.TESTS_FAILED,
    ):
        return
    SWEEP.stop()
    _SESSION.outcome = SWEEP.check()
    if _SESSION.outcome.leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    outcome = _SESSION.outcome
    if outcome is None:
        return
    if outcome.leaks:
        terminalreporter.section("secrets sweep", sep="=", red=True, bold=True)
        for line in outcome.report().splitlines():
            terminalreporter.write_line(line)
    else:
        terminalreporter.write_line(outcome.summary())
