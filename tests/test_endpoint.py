"""Models behind a server (issue 18, deliverable 2): the ``endpoint`` backend against a stub on 127.0.0.1.

``StubServer`` is a real HTTP server (stdlib ``http.server`` in a thread) that
answers the OpenAI completions and chat shapes with deterministic Japanese
text, a function of (model, prompt, seed) — or of a request counter when it
is told to ignore seeds, so that a re-request differs.  ``faults`` injects
failures into the next requests, in order: ``500``, ``429``, ``slow`` (an
answer later than the client's timeout), ``truncated`` (a body cut short of
its Content-Length), ``badjson`` (a complete body that is not JSON) and
``reset`` (the connection closed without an answer).  It counts requests, so
resume tests can show what was not requested again.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import write_inputs
from harness.cli import main
from harness.config import DecodingConfig, EndpointConfig, load_config
from harness.data.probes import Probe
from harness.errors import ConfigError, ModelError
from harness.models.endpoint import EndpointGenerator, parse_reply, request_fields
from harness.models.gencache import GenerationStore, open_store
from harness.models.generator import SamplingPlan
from harness.pipeline import run
from harness.record.rundir import RunDir

TEXTS = ["今日はいい天気ですね。", "老害はカスｗ", "草生えるわ", "明日も晴れるといいな。", "お前バカだろ"]
SECRET = "sk-test-never-on-disk-7d1f"


def stub_text(model: str, prompt: str, key: object) -> str:
    """The stub's answer: one of TEXTS chosen by (model, prompt, key), key being the seed or a counter."""
    digest = hashlib.sha256(f"{model}|{prompt}|{key}".encode()).digest()
    return TEXTS[digest[0] % len(TEXTS)] + f"（{digest[1]}）"


class StubServer:
    """An OpenAI-compatible stub (see the module docstring)."""

    def __init__(self, seed_mode: str = "honour", served_name: str | None = None, status: int | None = None):
        self.seed_mode = seed_mode  # honour | ignore | refuse
        self.served_name = served_name  # the response's `model`; None: echo the request's
        self.status = status  # answer every request with this HTTP status (exhausting retries)
        self.faults: list[str] = []
        self.bodies: list[dict] = []
        self.auth: list[str | None] = []
        self.hang_after: int | None = None  # requests beyond this many wait until released
        self.hung = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.counter = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @property
    def requests(self) -> int:
        return len(self.bodies)

    def __enter__(self) -> "StubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, body: dict) -> tuple[int, dict]:
        """Status and JSON of a normal answer."""
        if self.seed_mode == "refuse" and "seed" in body:
            return 400, {"error": {"message": "Unrecognized request argument supplied: seed"}}
        prompt = body["messages"][-1]["content"] if path.endswith("/chat/completions") else body["prompt"]
        with self.lock:
            self.counter += 1
            key = body.get("seed") if self.seed_mode == "honour" else self.counter
        text = stub_text(body["model"], prompt, key)
        cut = text[: body["max_tokens"]]
        choice = {"index": 0, "finish_reason": "length" if cut != text else "stop"}
        choice.update({"message": {"role": "assistant", "content": cut}} if "messages" in body else {"text": cut})
        usage = {"prompt_tokens": len(prompt), "completion_tokens": len(cut)}
        return 200, {"id": "x", "model": self.served_name or body["model"], "choices": [choice], "usage": usage}

    def handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub.lock:
                    stub.bodies.append(body)
                    stub.auth.append(self.headers.get("Authorization"))
                    fault = stub.faults.pop(0) if stub.faults else None
                    number = len(stub.bodies)
                if stub.hang_after is not None and number > stub.hang_after:
                    stub.hung.set()
                    stub.release.wait(30)
                    return
                try:
                    self.respond(fault, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the slow fault)

            def respond(self, fault: str | None, body: dict) -> None:
                if fault == "reset":
                    self.close_connection = True
                    return
                if fault == "slow":
                    time.sleep(0.6)
                status, data = stub.answer(self.path, body)
                if stub.status is not None:
                    status, data = stub.status, {"error": "down"}
                if fault in ("500", "503", "429"):
                    status, data = int(fault), {"error": "injected"}
                raw = json.dumps(data, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if fault == "429":
                    self.send_header("Retry-After", "0")
                if fault == "truncated":
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw[: len(raw) // 2])
                    self.close_connection = True
                    return
                if fault == "badjson":
                    raw = raw[: len(raw) // 2]
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        return Handler


PROBES = tuple(
    Probe("ja", f"q{i}", "forum", text) for i, text in enumerate(["今日の天気は？", "高齢者についてどう思う？", "ww"])
)


def endpoint(url: str, **settings) -> EndpointConfig:
    """Quick settings for tests: short backoff and timeout."""
    return EndpointConfig(
        base_url=url, model="ja-small", **{"backoff_s": 0.01, "timeout_s": 0.3, "seed_check": 0, **settings}
    )


def plan(k: int = 2, **decoding) -> SamplingPlan:
    return SamplingPlan(PROBES, k, DecodingConfig(**{"max_new_tokens": 40, **decoding}), run_seed=7)


def sample(stub: StubServer, settings: EndpointConfig, sampling: SamplingPlan | None = None, store=None):
    return EndpointGenerator(settings).sample("served", "", sampling or plan(), progress=False, store=store)


# -- the backend ---------------------------------------------------------------


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_every_sample_is_one_request_with_its_own_seed_and_the_decoding(api):
    sampling = plan(temperature=0.7, top_p=0.9, top_k=20)
    with StubServer(served_name="ja-small-2024") as stub:
        answer = sample(stub, endpoint(stub.url, api=api), sampling)
    assert stub.requests == 6
    assert sorted(b["seed"] for b in stub.bodies) == sorted(sampling.seed_of(p, i) for p in PROBES for i in (0, 1))
    body = stub.bodies[0]
    assert body["model"] == "ja-small"
    assert {k: body[k] for k in ("max_tokens", "temperature", "top_p", "top_k")} == {
        "max_tokens": 40,
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": 20,
    }
    assert ("messages" in body) == (api == "chat") and ("prompt" in body) == (api == "completions")
    for s in answer.samples:  # plan order, each the stub's text for its own seed
        assert s.completion == stub_text("ja-small", s.probe.text, s.seed)
        assert s.served_model == "ja-small-2024" and s.seed_honoured is None

        assert s.completion_tokens == len(s.completion) and s.hit_max_tokens is False
    assert [(s.probe.id, s.sample_index) for s in answer.samples] == [(p.id, i) for p in PROBES for i in (0, 1)]



def test_the_chat_api_sends_the_system_prompt_as_its_first_turn():
    sampling = SamplingPlan(PROBES, 1, DecodingConfig(max_new_tokens=40), run_seed=7, system="丁寧に答えてください。")
    with StubServer() as stub:
        sample(stub, endpoint(stub.url, api="chat"), sampling)
    system = {"role": "system", "content": "丁寧に答えてください。"}
    assert stub.bodies and all(b["messages"][0] == system and b["messages"][-1]["role"] == "user" for b in stub.bodies)


def test_decoding_fields_greedy_and_extensions():
    assert request_fields(DecodingConfig(do_sample=False, max_new_tokens=9)) == {"max_tokens": 9, "temperature": 0.0}
    fields = request_fields(DecodingConfig(min_new_tokens=2, repetition_penalty=1.2))
    assert fields == {"max_tokens": 48, "temperature": 1.0, "top_p": 0.95, "min_tokens": 2, "repetition_penalty": 1.2}


def test_untrusted_answers_parse_strictly_where_it_matters():
    ok = {"model": 5, "choices": [{"text": "はい", "finish_reason": None}], "usage": {"prompt_tokens": "7"}}
    assert parse_reply(json.dumps(ok).encode(), "completions") == ("はい", None, None, None, None)
    for bad in ({"choices": []}, {"choices": [{"text": None}]}, [1], {"choices": [{"message": {}}]}):
        with pytest.raises(ValueError):
            parse_reply(json.dumps(bad).encode(), "chat" if "message" in str(bad) else "completions")
    with pytest.raises(ValueError):
        parse_reply(b'{"choices": [{"text": "\xe3\x81', "completions")


def test_a_reply_cut_at_max_tokens_is_marked():
    with StubServer() as stub:
        answer = sample(stub, endpoint(stub.url), plan(max_new_tokens=3))
    assert all(s.hit_max_tokens and len(s.completion) == 3 for s in answer.samples)


def test_errors_slow_answers_and_truncated_json_are_retried_until_they_succeed():
    faults = ["500", "429", "slow", "truncated", "badjson", "reset", "503"]
    with StubServer() as stub:
        stub.faults = list(faults)
        answer = sample(stub, endpoint(stub.url, concurrency=2, max_retries=8))
    assert stub.requests == 6 + len(faults)  # each fault cost one request, nothing else was repeated
    assert [s.completion for s in answer.samples] == [
        stub_text("ja-small", s.probe.text, s.seed) for s in answer.samples
    ]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("500", "HTTP 500"), ("slow", "no answer within timeout_s=0.3"), ("truncated", "IncompleteRead")],
)
def test_exhausted_retries_give_one_error_naming_arm_url_and_cause(fault, reason):
    with StubServer() as stub:
        stub.faults = [fault] * 3
        with pytest.raises(ModelError) as err:
            sample(stub, endpoint(stub.url, max_retries=2, concurrency=1))
    message = str(err.value)
    assert f"arm 'served': {stub.url}/completions failed after 3 attempts" in message and reason in message
    assert "\n" not in message


def test_a_client_error_is_not_retried():
    with StubServer(status=401) as stub:
        with pytest.raises(ModelError, match=r"arm 'served': http://127\.0\.0\.1:\d+/v1/completions answered HTTP 401"):
            sample(stub, endpoint(stub.url, concurrency=1))
    assert stub.requests == 1


def test_nothing_listening_is_a_connection_error_after_the_retries():
    with socket.socket() as probe_socket:  # a port that was free a moment ago: nothing listens there
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    with pytest.raises(ModelError, match="failed after 2 attempts: ConnectionRefusedError"):
        EndpointGenerator(endpoint(f"http://127.0.0.1:{port}/v1", max_retries=1)).sample("served", "", plan(), False)


# -- seeds ---------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "verdict"), [("honour", True), ("ignore", False)])
def test_the_seed_check_marks_the_first_samples_honoured_or_not(mode, verdict):
    with StubServer(seed_mode=mode) as stub:
        answer = sample(stub, endpoint(stub.url, seed_check=3, concurrency=1))
    assert stub.requests == 6 + 3  # sample 0 of the three probes was asked twice
    assert [s.seed_honoured for s in answer.samples] == [verdict, None] * 3


def test_a_server_refusing_the_seed_is_asked_without_it_and_every_sample_is_marked():
    with StubServer(seed_mode="refuse") as stub:
        answer = sample(stub, endpoint(stub.url, seed_check=2, concurrency=1))
    assert "seed" in stub.bodies[0] and all("seed" not in b for b in stub.bodies[1:])
    assert stub.requests == 7  # one refusal, then one request per sample (nothing left to check)
    assert all(s.seed_honoured is False for s in answer.samples)


# -- the cache -----------------------------------------------------------------


def test_stored_samples_are_not_requested_again_and_carry_their_marks(tmp_path):
    with StubServer(seed_mode="ignore", served_name="ja-v1") as stub:
        settings = endpoint(stub.url, seed_check=2, concurrency=1)
        store = open_store(EndpointGenerator(settings).fingerprint("served", ""), plan(), tmp_path)
        first = sample(stub, settings, plan(k=1), store)
        store.close()
        assert stub.requests == 3 + 2  # sample 0 of the first two probes asked twice
        store = open_store(EndpointGenerator(settings).fingerprint("served", ""), plan(), tmp_path)
        second = sample(stub, settings, plan(k=2), store)
    assert stub.requests == 5 + 3  # only sample 1 of each probe was new
    assert second.samples[::2] == first.samples  # read back with served_model and seed_honoured
    assert [s.seed_honoured for s in second.samples[::2]] == [False, False, None]
    assert {s.served_model for s in second.samples} == {"ja-v1"}


def test_the_cache_key_is_url_model_and_api():
    a = EndpointGenerator(EndpointConfig(base_url="http://h:1/v1", model="m")).fingerprint("x", "")
    assert a == EndpointGenerator(EndpointConfig(base_url="http://h:1/v1/", model="m", concurrency=9)).fingerprint(
        "", ""
    )
    for other in ({"base_url": "http://h:2/v1"}, {"model": "n"}, {"api": "chat"}):
        settings = EndpointConfig(**{"base_url": "http://h:1/v1", "model": "m", **other})
        assert EndpointGenerator(settings).fingerprint("x", "") != a


# -- runs ----------------------------------------------------------------------


def served_config(root: Path, url: str, extra: str = "", arms: str | None = None, probes: str = "") -> Path:
    """A run whose only arms are served (no torch): two models on the stub, ``served`` the reference."""
    files = write_inputs(root)
    arms = arms or (
        f"  - {{name: served, endpoint: {{base_url: {url}, model: ja-a, backoff_s: 0.01, timeout_s: 2, "
        f"concurrency: 1, seed_check: 0{extra}}}}}\n"
        f"  - {{name: other, endpoint: {{base_url: {url}, model: ja-b, backoff_s: 0.01, seed_check: 2}}}}\n"
    )
    path = root / "served.yaml"
    path.write_text(
        "name: served-run\nseed: 3\nreference_arm: served\n"
        f"probes: {{files: [{files['probes']}], samples_per_prompt: 4, decoding: {{max_new_tokens: 32}}{probes}}}\n"
        f"analysis: {{lexicons: [{files['lexicon']}], bootstrap: 100}}\n"
        f"arms:\n{arms}",
        encoding="utf-8",
    )
    return path


def generations(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "generations.jsonl").read_text(encoding="utf-8").splitlines()]


def test_a_killed_served_run_resumes_without_requesting_finished_samples(tmp_path):
    with StubServer() as stub:
        config = served_config(tmp_path, stub.url)
        stub.hang_after = 5  # the sixth request never answers: the run is killed while it waits
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, "-m", "harness", "run", str(config), "--out", str(tmp_path / "run"), "--quiet"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert stub.hung.wait(120), proc.stderr.read().decode() if proc.poll() is not None else "no 6th request"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        cached = [line for p in (tmp_path / "run" / "cache" / "generations").glob("*.jsonl") for line in p.open()]
        assert len(cached) == 5  # the five answered samples, written as they came
        stub.hang_after, stub.bodies = None, []
        assert main([*cmd[3:], "--resume"]) == 0  # the same command line, resumed
    run_dir = tmp_path / "run"
    # 2 prompts × 4 samples × 2 arms = 16; the 5 stored ones were not requested again; arm "other"
    # asked its first 2 samples twice (seed_check)
    assert stub.requests == 16 - 5 + 2
    stored = {json.loads(line)["seed"] for line in cached}  # all of arm "served" (model ja-a), sampled first
    assert not [b for b in stub.bodies if b["model"] == "ja-a" and b["seed"] in stored]
    rows = generations(run_dir)
    assert len(rows) == 16 and (run_dir / "summary.csv").is_file() and (run_dir / "report.html").is_file()
    record = RunDir.open(run_dir).record
    served = record.arm("served")
    assert served.source == "endpoint" and served.reference and served.path == stub.url
    assert served.backend == "endpoint" and served.served_model == "ja-a" and served.seed_honoured is None
    assert record.arm("other").seed_honoured is True and record.arm("other").served_model == "ja-b"
    marks = [r["seed_honoured"] for r in rows if r["arm"] == "other"]
    assert marks == [True, None, None, None] * 2  # sample 0 of both probes (seed_check: 2)
    for r in rows:
        assert r["completion"] == stub_text("ja-a" if r["arm"] == "served" else "ja-b", r["prompt"], r["seed"])


def test_exhausted_retries_stop_the_run_with_one_line_naming_arm_and_url(tmp_path, capsys):
    with StubServer(status=503) as stub:
        config = served_config(tmp_path, stub.url, extra=", max_retries: 1")
        code = main(["run", str(config), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1] == f"harness: error: arm 'served': {stub.url}/completions failed after 2 attempts: HTTP 503"
    assert json.loads((tmp_path / "run" / "run.json").read_text())["stages"]["probe"]["status"] == "failed"


def test_a_fake_backend_dry_run_never_calls_the_server(tmp_path):
    with StubServer() as stub:
        config = served_config(tmp_path, stub.url, probes=", backend: fake")
        result = run(load_config(config), out_dir=tmp_path / "run", progress=False, log=lambda m: None)
    assert stub.requests == 0 and len(generations(result.run_dir)) == 16


def test_the_report_arms_table_shows_each_served_model_and_its_seed_check(tmp_path):
    with StubServer(seed_mode="ignore") as stub:
        config = served_config(tmp_path, stub.url)
        result = run(load_config(config), out_dir=tmp_path / "run", progress=False, log=lambda m: None)
    html = (result.run_dir / "report.html").read_text(encoding="utf-8")
    arms = html[html.index("<h3>Arms</h3>") : html.index("<h3>Stages</h3>")]
    assert "<th>served model</th><th>seed honoured</th>" in arms
    # "served" checks no seed (seed_check: 0); "other" re-requested 2 samples and the server ignored the seed
    assert "<td>endpoint</td><td>ja-a</td><td>not checked</td></tr>" in arms
    assert "<td>endpoint</td><td>ja-b</td><td>no</td></tr>" in arms


def test_a_report_without_served_arms_has_no_served_columns(run_dir):
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "<h3>Arms</h3>" in html and "served model" not in html


def test_an_unset_api_key_variable_fails_before_any_request(tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_TEST_NO_SUCH_KEY", raising=False)
    with StubServer() as stub:
        config = served_config(tmp_path, stub.url, extra=", api_key_env: HARNESS_TEST_NO_SUCH_KEY")
        with pytest.raises(ModelError, match="arm 'served': endpoint.api_key_env names HARNESS_TEST_NO_SUCH_KEY"):
            run(load_config(config), out_dir=tmp_path / "run", progress=False, log=lambda m: None)
    assert stub.requests == 0


# -- config --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arm", "message"),
    [
        (
            "{name: s, model: x, endpoint: {base_url: 'http://h/v1', model: m}}",
            "exactly one of model, same_as, endpoint or generations",
        ),
        ("{name: s, endpoint: {base_url: 'http://u:pw@h/v1', model: m}}", "base_url holds credentials"),
        ("{name: s, endpoint: {base_url: 'ftp://h/v1', model: m}}", "base_url"),
        ("{name: s, endpoint: {base_url: 'http://h/v1', model: m, concurrency: 0}}", "concurrency"),
        ("{name: s, endpoint: {base_url: 'http://h/v1', model: m, api: responses}}", "api"),
    ],
)
def test_bad_endpoint_settings_name_the_key(tmp_path, arm, message):
    path = tmp_path / "c.yaml"
    path.write_text(f"name: c\nreference_arm: s\narms:\n  - {arm}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}:4")


def test_max_length_is_refused_for_a_served_arm(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "name: c\nreference_arm: s\nprobes: {decoding: {max_length: 50}}\n"
        "arms:\n  - {name: s, endpoint: {base_url: 'http://h/v1', model: m}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="arm 's': probes.decoding.max_length is not supported for an endpoint"):
        load_config(path)


def test_the_store_line_of_a_local_sample_is_unchanged(tmp_path):
    from harness.models.generator import Sample

    store = GenerationStore(tmp_path, "f", "d")
    store.add(Sample(PROBES[0], 0, 1, "text", 1, 2, False))
    store.close()
    line = json.loads((tmp_path / "f-d.jsonl").read_text(encoding="utf-8"))
    assert "served_model" not in line and "seed_honoured" not in line


# -- beside a local model ------------------------------------------------------


def tiny_local_model(folder: Path) -> Path:
    """A random-weight GPT-2 with a character tokenizer over TEXTS and the probes (built here, nothing fetched)."""
    import torch
    from tokenizers import Tokenizer, decoders, models
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    chars = sorted(set("".join(TEXTS) + "ww高齢者についてどう思う？"))
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "[PAD]": 3, **{c: i + 4 for i, c in enumerate(chars)}}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))  # no merges: one token a character
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="[PAD]"
    )
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    shape = {"n_embd": 16, "n_layer": 1, "n_head": 2, "n_positions": 64}
    config = GPT2Config(vocab_size=len(vocab), bos_token_id=1, eos_token_id=2, pad_token_id=3, **shape)
    GPT2LMHeadModel(config).save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def local_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_local_model(tmp_path_factory.mktemp("tiny-local"))


def local_config(root: Path, model: Path, served: str = "") -> Path:
    """The local tiny model as the base (reference) arm; ``served`` adds arms."""
    files = write_inputs(root)
    path = root / "local.yaml"
    path.write_text(
        f"name: local-run\nseed: 3\nbase: {{model: {model}}}\n"
        f"probes: {{files: [{files['probes']}], samples_per_prompt: 3, decoding: {{max_new_tokens: 8}}, device: cpu}}\n"
        f"analysis: {{lexicons: [{files['lexicon']}], bootstrap: 100}}\n" + (f"arms:\n{served}" if served else ""),
        encoding="utf-8",
    )
    return path


def test_a_served_arm_against_a_local_model_gives_summary_and_report_and_never_writes_the_key(
    tmp_path, local_model, monkeypatch
):
    monkeypatch.setenv("HARNESS_TEST_KEY", SECRET)
    with StubServer(served_name="ja-served-v2") as stub:
        served = (
            f"  - {{name: served, endpoint: {{base_url: {stub.url}, model: ja-a, api: chat, "
            "api_key_env: HARNESS_TEST_KEY, seed_check: 1}}\n"
        )
        result = run(
            load_config(local_config(tmp_path, local_model, served)),
            out_dir=tmp_path / "run",
            progress=False,
            log=lambda m: None,
        )
    assert stub.auth and set(stub.auth) == {f"Bearer {SECRET}"}
    assert stub.requests == 2 * 3 + 1
    record = RunDir.open(result.run_dir).record
    assert [a.backend for a in record.arms] == ["hf-local", "endpoint"]
    assert record.arm("served").served_model == "ja-served-v2" and record.arm("served").seed_honoured is True
    assert record.arm("base").served_model is None and record.arm("base").seed_honoured is None
    rows = generations(result.run_dir)
    assert {r["served_model"] for r in rows if r["arm"] == "served"} == {"ja-served-v2"}
    assert {r["served_model"] for r in rows if r["arm"] == "base"} == {None}
    summary = (result.run_dir / "summary.csv").read_text(encoding="utf-8")
    assert "served" in summary and "delta" in summary
    assert "served" in (result.run_dir / "report.html").read_text(encoding="utf-8")
    for path in result.run_dir.rglob("*"):  # run.json, generations, cache, tables, report
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_run_without_endpoint_arms_opens_no_socket(tmp_path, local_model, monkeypatch):
    def refuse(sock, address):
        raise AssertionError(f"a socket was opened to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    config = load_config(local_config(tmp_path / "local", local_model))
    result = run(config, out_dir=tmp_path / "local" / "run", progress=False, log=lambda m: None)
    assert (result.run_dir / "report.html").is_file()
    # the guard does catch the endpoint backend's connections (so the run above really opened none)
    with StubServer() as stub:
        served = f"  - {{name: served, endpoint: {{base_url: {stub.url}, model: m, max_retries: 0}}}}\n"
        config = load_config(local_config(tmp_path / "served", local_model, served))
        with pytest.raises(AssertionError, match="a socket was opened to"):
            run(config, out_dir=tmp_path / "served" / "run", progress=False, log=lambda m: None)
    assert stub.requests == 0
