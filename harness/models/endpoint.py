"""The ``endpoint`` backend: a model behind an OpenAI-compatible server (vLLM, llama.cpp server, TGI).

An arm with ``endpoint: {base_url, model, ...}`` is sampled by POSTing one
request per sample to ``{base_url}/completions`` (``api: completions``, the
prompt as ``prompt``) or ``{base_url}/chat/completions`` (``api: chat``, the
prompt as one user message).  This module is the only place the harness opens
a network connection, and only for such an arm.

* **Seeds.**  Each request carries the sample's own seed
  (``rng.sample_seed``, the same one every arm uses) as ``seed``.  No server
  says in its answer whether it used it, so sample 0 of each of the first
  ``seed_check`` probes (the same samples whatever k, in every arm) is
  requested twice with the same seed: equal texts mark the
  sample ``seed_honoured: true``, different texts ``false`` (the server
  ignored the seed, or its batching is not reproducible; either way the
  sample cannot be drawn again).  A server that refuses the ``seed`` field
  (HTTP 400/422 naming it) is asked again without it, and every sample it
  answers so is ``false``.  Samples not checked are ``None``.
* **Decoding.**  ``request_fields`` maps the decoding settings: ``max_new_tokens``
  → ``max_tokens``, ``temperature`` and ``top_p`` as they are (``do_sample:
  false`` → ``temperature: 0``, the servers' greedy convention), and, only
  when set away from their defaults, ``top_k``, ``min_new_tokens`` →
  ``min_tokens`` and ``repetition_penalty``: vLLM's extra sampling fields,
  which other servers may ignore or refuse (a refusal is a 400, reported as
  one error).  ``max_length`` is not supported (the server's tokenizer counts
  the prompt; the config refuses it for a served arm).
* **Failures.**  At most ``concurrency`` requests are in flight (a thread
  pool, one keep-alive connection per thread).  408, 429, 5xx, a timeout (no
  byte for ``timeout_s``), a dropped connection and a truncated or invalid JSON answer
  are retried up to ``max_retries`` times after ``backoff_s × 2^attempt``
  seconds (at most 60; a ``Retry-After`` header is honoured up to 60).
  What is still failing then, or any other 4xx, stops the stage with one
  error naming the arm, the URL and the last failure; the samples that
  finished before are in the generation store.
* **Cache.**  Samples stream into the probe stage's ``GenerationStore``
  like local ones, so a killed run resumes without re-requesting them.  A
  served model has no weights to hash, so its fingerprint is the sha256 of
  (base_url, model, api) — ``endpoint_fingerprint`` — and the store adds
  the decoding hash, prompt text and seed, as for every arm.  A server that
  swaps the weights behind the same name and URL is therefore not noticed:
  the cached samples are reused (the recorded ``served_model`` may show it).
* **Key.**  The API key is read from the environment variable
  ``api_key_env`` names and sent only as the ``Authorization`` header; it is
  never written to the record, the cache or a message.

HTTP is the standard library's ``http.client``: httpx is not in the base
install (transformers 5's hub client depends on httpx2, not httpx), and one
keep-alive connection per worker thread with socket timeouts and TLS is all
this needs.  Proxy variables (``HTTPS_PROXY``) are not read: the connection
goes to ``base_url`` itself.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import ssl
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from harness.config import DecodingConfig, EndpointConfig
from harness.errors import ModelError
from harness.models.gencache import Todo, assemble, todo
from harness.models.generator import ArmSamples, Sample, SamplingPlan
from harness.progress import Progress

RETRY_STATUS = frozenset({408, 429})  # and every 5xx
MAX_DELAY_S = 60.0


class Reply(NamedTuple):
    """One parsed answer of the server."""

    text: str
    model: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None


class SeedRefused(Exception):
    """The server refused the ``seed`` field (HTTP 400/422 naming it)."""


def endpoint_fingerprint(endpoint: EndpointConfig) -> str:
    """The generation cache's model key for a served arm: sha256 of (base_url, model, api)."""
    key = json.dumps(["endpoint/1", endpoint.base_url, endpoint.model, endpoint.api])
    return hashlib.sha256(key.encode()).hexdigest()


def request_fields(decoding: DecodingConfig) -> dict[str, Any]:
    """The decoding settings as OpenAI-compatible request fields (see the module docstring)."""
    fields: dict[str, Any] = {"max_tokens": decoding.max_new_tokens}
    if decoding.do_sample:
        fields["temperature"] = decoding.temperature
        fields["top_p"] = decoding.top_p
        if decoding.top_k:
            fields["top_k"] = decoding.top_k
    else:
        fields["temperature"] = 0.0
    if decoding.min_new_tokens:
        fields["min_tokens"] = decoding.min_new_tokens
    if decoding.repetition_penalty != 1.0:
        fields["repetition_penalty"] = decoding.repetition_penalty
    return fields


def parse_reply(body: bytes, api: str) -> Reply:
    """The text, model name, finish reason and token counts of an answer; ``ValueError`` when malformed."""
    data = json.loads(body)  # a truncated body raises ValueError (JSONDecodeError) here
    try:
        choice = data["choices"][0]
        text = choice["message"]["content"] if api == "chat" else choice["text"]
    except (KeyError, IndexError, TypeError):
        raise ValueError("no choices[0] text in the answer") from None
    if not isinstance(text, str):
        raise ValueError("the answer's text is not a string")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return Reply(
        text,
        of_type(data.get("model"), str),
        of_type(choice.get("finish_reason"), str),
        of_type(usage.get("prompt_tokens"), int),
        of_type(usage.get("completion_tokens"), int),
    )


def of_type(value: Any, kind: type) -> Any:
    """``value`` when it is a ``kind`` (not a bool posing as an int), else None: optional fields of an
    untrusted answer must not break the record."""
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def check_api_key(arm: str, endpoint: EndpointConfig) -> str | None:
    """The API key from the variable ``api_key_env`` names (None when it names none); one error when unset."""
    name = endpoint.api_key_env
    if name is None:
        return None
    key = os.environ.get(name, "")
    if not key:
        raise ModelError(f"arm '{arm}': endpoint.api_key_env names {name}, which is not set in the environment")
    return key


def retry_delay(endpoint: EndpointConfig, attempt: int, retry_after: str | None) -> float:
    """Seconds to wait before retry ``attempt`` (1, 2, …): exponential, or the server's Retry-After."""
    delay = endpoint.backoff_s * 2 ** (attempt - 1)
    if retry_after is not None:
        try:
            delay = max(delay, float(retry_after))
        except ValueError:
            pass  # an HTTP date: keep the exponential delay
    return min(delay, MAX_DELAY_S)


class Answer(NamedTuple):
    """An HTTP answer: status, Retry-After header, body."""

    status: int
    retry_after: str | None
    body: bytes


class Connections:
    """One keep-alive connection to the server per worker thread (an ``http.client`` connection is not
    thread-safe); ``post`` raises ``OSError`` (timeouts included) or ``http.client.HTTPException``."""

    def __init__(self, url: str, timeout: float, headers: dict[str, str]):
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname or "", parts.port
        self.path = parts.path or "/"
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", "Accept": "application/json", **headers}
        self.local = threading.local()
        self.opened: list[http.client.HTTPConnection] = []
        self.lock = threading.Lock()

    def connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection and whether it served a request before."""
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            return conn, True
        if self.https:
            conn = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        with self.lock:
            self.opened.append(conn)
        self.local.conn = conn
        return conn, False

    def post(self, body: bytes) -> Answer:
        """POST ``body``; a keep-alive connection the server closed meanwhile is reopened once, not retried."""
        conn, reused = self.connection()
        try:
            conn.request("POST", self.path, body, self.headers)
            response = conn.getresponse()
            answer = Answer(response.status, response.getheader("Retry-After"), response.read())
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.drop(conn)
            if not reused:
                raise
            return self.post(body)
        except BaseException:
            self.drop(conn)
            raise
        if response.will_close:
            self.drop(conn)
        return answer

    def drop(self, conn: http.client.HTTPConnection) -> None:
        """Close this thread's connection; the next request opens a new one."""
        conn.close()
        self.local.conn = None

    def close(self) -> None:
        """Close every connection the threads opened."""
        with self.lock:
            for conn in self.opened:
                conn.close()


class EndpointGenerator:
    """Samples one arm from an OpenAI-compatible server (see the module docstring)."""

    backend = "endpoint"

    def __init__(self, endpoint: EndpointConfig):
        self.endpoint = endpoint
        path = "/chat/completions" if endpoint.api == "chat" else "/completions"
        self.url = endpoint.base_url + path
        self.send_seed = True  # False once the server refused the seed field
        self.system: str | None = None  # probes.system, set per sampling plan
        self.failed = threading.Event()  # set when a sample failed: the workers start no new request
        self._lock = threading.Lock()

    def fingerprint(self, arm: str, model: str) -> str:
        """The cache key of the served model (``endpoint_fingerprint``)."""
        return endpoint_fingerprint(self.endpoint)

    def headers(self, arm: str) -> dict[str, str]:
        """The request headers: the API key, when ``api_key_env`` names one."""
        key = check_api_key(arm, self.endpoint)
        return {} if key is None else {"Authorization": f"Bearer {key}"}

    def sample(self, arm: str, model: str, plan: SamplingPlan, progress: bool, store: Any = None) -> ArmSamples:
        """Every sample of the plan the store lacks, ``concurrency`` requests at a time; each is stored as it ends."""
        items = todo(plan, store)
        checked = {(p.probe_set, p.id, 0) for p in plan.probes[: self.endpoint.seed_check]}
        fields = request_fields(plan.decoding)
        self.system = plan.system  # probes.system: the chat API's system turn (the completions API has none)
        connections = Connections(self.url, self.endpoint.timeout_s, self.headers(arm))
        self.failed = threading.Event()
        new: list[Sample] = []
        pool = ThreadPoolExecutor(self.endpoint.concurrency, thread_name_prefix=f"endpoint-{arm}")
        try:
            futures = [
                pool.submit(self.draw, connections, arm, item, fields, item_key(item) in checked) for item in items
            ]
            error = self.collect(
                futures, store, new, Progress(as_completed(futures), len(futures), f"probe {arm}", progress)
            )
        except BaseException:  # Ctrl-C: no new request starts; the stored samples stay for --resume
            self.failed.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            connections.close()
        if error is not None:
            raise error
        return ArmSamples(assemble(plan, store, new), None)

    @staticmethod
    def collect(futures: list[Future], store: Any, new: list[Sample], finished: Progress) -> Exception | None:
        """Store each sample as it finishes; on the first failure cancel what has not started, keep what ends."""
        error: Exception | None = None
        for future in finished:
            if future.cancelled():
                continue
            try:
                sample = future.result()
            except Exception as err:  # the first one is raised once the running requests have ended
                if error is None:
                    error = err
                    for other in futures:
                        other.cancel()
                continue
            if sample is None:  # not requested: another sample had failed
                continue
            if store is not None:
                store.add(sample)
            new.append(sample)
        return error

    def draw(
        self, connections: Connections, arm: str, item: Todo, fields: dict[str, Any], check: bool
    ) -> Sample | None:
        """One sample (``draw_one``); None without a request once a sample has failed (the arm stops)."""
        if self.failed.is_set():
            return None
        try:
            return self.draw_one(connections, arm, item, fields, check)
        except BaseException:
            self.failed.set()  # workers already past the check finish their request; no new one starts
            raise

    def draw_one(self, connections: Connections, arm: str, item: Todo, fields: dict[str, Any], check: bool) -> Sample:
        """One sample: a request with the sample's seed, and a second one when ``check`` (see the docstring)."""
        reply, seeded = self.request(connections, arm, item, fields)
        honoured = None if seeded else False
        if seeded and check:
            again, seeded = self.request(connections, arm, item, fields)
            honoured = seeded and again.text == reply.text
        return Sample(
            item.probe,
            item.index,
            item.seed,
            reply.text,
            reply.prompt_tokens,
            reply.completion_tokens,
            None if reply.finish_reason is None else reply.finish_reason == "length",
            served_model=reply.model,
            seed_honoured=honoured,
        )

    def request(self, connections: Connections, arm: str, item: Todo, fields: dict[str, Any]) -> tuple[Reply, bool]:
        """The server's reply for one sample and whether the seed was sent (dropped once the server refuses it)."""
        body: dict[str, Any] = {"model": self.endpoint.model, **fields}
        if self.endpoint.api == "chat":
            system = [{"role": "system", "content": self.system}] if self.system else []
            body["messages"] = [*system, {"role": "user", "content": item.probe.text}]
        else:
            body["prompt"] = item.probe.text
        if self.send_seed:
            try:
                return self.post(connections, arm, {**body, "seed": item.seed}), True
            except SeedRefused:
                with self._lock:
                    self.send_seed = False
        return self.post(connections, arm, body), False

    def post(self, connections: Connections, arm: str, body: dict[str, Any]) -> Reply:
        """POST ``body`` with retries (see the module docstring); one ``ModelError`` when they run out."""
        payload = json.dumps(body, ensure_ascii=False).encode()
        attempts = self.endpoint.max_retries + 1
        last, retry_after = "", None
        for attempt in range(attempts):
            if attempt:
                time.sleep(retry_delay(self.endpoint, attempt, retry_after))
            retry_after = None
            try:
                answer = connections.post(payload)
            except TimeoutError:
                last = f"no answer within timeout_s={self.endpoint.timeout_s:g}"
                continue
            except (OSError, http.client.HTTPException) as err:  # refused, reset, a body cut short of its length
                last = f"{type(err).__name__}: {err}"
                continue
            if answer.status in RETRY_STATUS or answer.status >= 500:
                last, retry_after = f"HTTP {answer.status}", answer.retry_after
                continue
            if answer.status >= 400:
                detail = answer.body[:200].decode("utf-8", "replace").replace("\n", " ")
                if answer.status in (400, 422) and "seed" in body and "seed" in detail.lower():
                    raise SeedRefused(detail)
                raise ModelError(f"arm '{arm}': {self.url} answered HTTP {answer.status}: {detail}")
            try:
                return parse_reply(answer.body, self.endpoint.api)
            except ValueError as err:
                last = f"invalid JSON answer ({err})"
        tries = f"{attempts} attempt{'s' * (attempts != 1)}"
        raise ModelError(f"arm '{arm}': {self.url} failed after {tries}: {last}")


def item_key(item: Todo) -> tuple[str, str, int]:
    """What names a sample of the plan: probe set, probe id, sample index."""
    return (item.probe.probe_set, item.probe.id, item.index)
