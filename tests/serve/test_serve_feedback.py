"""The feedback store (``routerrec.serve.feedback``): what it accepts and refuses, that its log
reads back as records (``load_records`` and ``routerrec fit --data`` in a subprocess), a torn
last line, several threads and processes appending at once; and through the real server
(``routerrec serve --feedback``): every acknowledged record survives a SIGKILL, feedback by a
gateway request id, before and after a restart."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import polars as pl
import pytest

import routerrec
from commands import run_many
from routerrec.data.readers.scores_json import text_id
from routerrec.serve.feedback import REQUESTS_FILE, FeedbackStore
from server import start_server
from stub_upstream import start_stub

FEEDBACK = "feedback.jsonl"
MODELS = ("gpt-a", "gpt-b", "llama-c")
SAMPLE = Path(routerrec.__file__).resolve().parent.parent / "data" / "sample"


@pytest.fixture
def store(tmp_path):
    with_store = FeedbackStore(tmp_path / "fb", MODELS)
    yield with_store
    with_store.close()


def lines(folder: Path, name: str = FEEDBACK) -> list[dict]:
    return [json.loads(line) for line in (folder / name).read_text("utf-8").splitlines()]


def test_feedback_on_one_prompt_text_is_one_prompt_with_its_text(store):
    store.append({"prompt": "What is 2+2?", "model": "gpt-a", "score": 1, "cost": 0.002})
    store.append({"prompt": "What is 2+2?", "model": "gpt-b", "score": 0})
    stored = store.append({"prompt": "Name a prime.", "model": "gpt-b", "score": 0.5, "cost": 0})
    assert stored["prompt"] == text_id("Name a prime.") and stored["text"] == "Name a prime."
    for source in (store.directory, store.directory / FEEDBACK):
        records = routerrec.load_records(source)
        assert (records.n_prompts, records.n_models, records.n_records) == (2, 2, 3)
        table = records.table.sort("prompt", "model")
        two = table.filter(pl.col("prompt") == text_id("What is 2+2?"))
        assert two["model"].to_list() == ["gpt-a", "gpt-b"] and two["score"].to_list() == [1.0, 0.0]
        assert two["cost"].to_list() == [0.002, None]  # no cost sent: unknown, not 0
        assert records.text_of([text_id("Name a prime.")]) == ["Name a prime."]


def test_texts_with_line_breaks_nul_and_unicode_read_back_unchanged(store):
    text = 'a "quoted"\nline\x00 with é and 漢字\t'
    store.append({"prompt": text, "model": "llama-c", "score": 1})
    assert routerrec.load_records(store.directory).text_of([text_id(text)]) == [text]


def test_feedback_may_name_only_the_request_id(store):
    store.remember("req-1", "Translate 'cat' to French.", "gpt-b")
    stored = store.append({"request_id": "req-1", "score": 1, "cost": 0.01})
    assert (stored["model"], stored["text"], stored["request_id"]) == \
        ("gpt-b", "Translate 'cat' to French.", "req-1")
    with pytest.raises(ValueError, match="'gpt-a' is not 'gpt-b', the model that answered request 'req-1'"):
        store.append({"request_id": "req-1", "model": "gpt-a", "score": 1})
    with pytest.raises(LookupError, match="request_id 'nope' is not a request this gateway routed"):
        store.append({"request_id": "nope", "score": 1})


def test_request_ids_are_read_back_on_start_and_from_another_worker(tmp_path):
    first = FeedbackStore(tmp_path, MODELS)
    first.remember("old", "an old prompt", "gpt-a")
    second = FeedbackStore(tmp_path, MODELS)  # a second worker started now
    first.remember("new", "a new prompt", "llama-c")  # routed by the first after the second started
    assert second.append({"request_id": "old", "score": 0})["text"] == "an old prompt"
    assert second.append({"request_id": "new", "score": 1})["model"] == "llama-c"
    first.close(), second.close()
    restarted = FeedbackStore(tmp_path, MODELS)
    assert restarted.request("new") == ("a new prompt", "llama-c")
    restarted.close()


def test_only_the_latest_max_requests_ids_are_kept(tmp_path):
    with_store = FeedbackStore(tmp_path, MODELS, max_requests=3)
    for i in range(5):
        with_store.remember(f"r{i}", f"prompt {i}", "gpt-a")
    assert with_store.request("r4") == ("prompt 4", "gpt-a")
    with pytest.raises(LookupError, match="among its last 3"):
        with_store.request("r0")
    with_store.close()


@pytest.mark.parametrize("body, message", [
    ([1, 2], "the feedback must be a JSON object"),
    ({"prompt": "p", "model": "gpt-a", "score": 1, "scor": 1}, "unknown field 'scor'"),
    ({"prompt": "p", "model": "gpt-a"}, "score is required"),
    ({"prompt": "p", "score": 1}, "model is required with prompt"),
    ({"model": "gpt-a", "score": 1}, "give request_id .* or prompt, exactly one"),
    ({"prompt": "p", "request_id": "r", "model": "gpt-a", "score": 1}, "exactly one"),
    ({"prompt": "p", "model": "gpt-z", "score": 1}, "model 'gpt-z' is not one of the router's 3 models"),
    ({"prompt": "p", "model": 7, "score": 1}, "model must be a string, got int"),
    ({"prompt": "p", "model": "gpt-a", "score": float("nan")}, "score must be a finite number"),
    ({"prompt": "p", "model": "gpt-a", "score": float("inf")}, "score must be a finite number"),
    ({"prompt": "p", "model": "gpt-a", "score": 1e39}, "score must be within float32's range"),
    ({"prompt": "p", "model": "gpt-a", "score": "1"}, "score must be a number, got str"),
    ({"prompt": "p", "model": "gpt-a", "score": True}, "score must be a number, got bool"),
    ({"prompt": "p", "model": "gpt-a", "score": 1, "cost": -0.01}, "cost must be a finite number >= 0"),
    ({"prompt": "p", "model": "gpt-a", "score": 1, "cost": float("nan")}, "cost must be a finite number"),
    ({"prompt": "p", "model": "gpt-a", "score": 1, "cost": "free"}, "cost must be a number"),
    ({"prompt": "  ", "model": "gpt-a", "score": 1}, "prompt must not be empty"),
    ({"prompt": ["p"], "model": "gpt-a", "score": 1}, "prompt must be a string, got list"),
    ({"prompt": "\ud800", "model": "gpt-a", "score": 1}, "prompt must be UTF-8 text"),
    ({"request_id": 5, "score": 1}, "request_id must be a string, got int"),
])
def test_a_bad_body_is_a_value_error_naming_the_field_and_nothing_is_written(store, body, message):
    with pytest.raises(ValueError, match=message):
        store.append(body)
    assert (store.directory / FEEDBACK).read_bytes() == b""


def test_the_known_models_may_come_from_a_function_so_a_reload_changes_them(tmp_path):
    current = {"models": ["gpt-a"]}
    with_store = FeedbackStore(tmp_path, lambda: current["models"])
    with pytest.raises(ValueError, match="not one of the router's 1 models"):
        with_store.append({"prompt": "p", "model": "gpt-b", "score": 1})
    current["models"] = ["gpt-a", "gpt-b"]
    assert with_store.append({"prompt": "p", "model": "gpt-b", "score": 1})["model"] == "gpt-b"
    with_store.close()


def test_a_torn_last_line_is_cut_on_open_and_before_an_append(tmp_path, caplog):
    first = FeedbackStore(tmp_path, MODELS)
    first.append({"prompt": "kept", "model": "gpt-a", "score": 1})
    other = FeedbackStore(tmp_path, MODELS)  # a worker that keeps running
    with open(tmp_path / FEEDBACK, "ab") as fh:  # a writer killed inside its write
        fh.write(b'{"prompt": "abc", "model": "gpt')
    other.append({"prompt": "after", "model": "gpt-b", "score": 0})  # never glued to the fragment
    assert [r["text"] for r in lines(tmp_path)] == ["kept", "after"]
    with open(tmp_path / FEEDBACK, "ab") as fh:
        fh.write(b'{"prompt": "x"')
    with open(tmp_path / REQUESTS_FILE, "ab") as fh:
        fh.write(b'{"request_id": "r')
    reopened = FeedbackStore(tmp_path, MODELS)
    assert "cut a torn last line of 14 bytes" in caplog.text
    assert (tmp_path / FEEDBACK).read_bytes().endswith(b"\n")
    assert (tmp_path / REQUESTS_FILE).read_bytes() == b""
    assert routerrec.load_records(tmp_path).n_records == 2
    for opened in (first, other, reopened):
        opened.close()


def test_threads_appending_at_once_lose_and_mix_nothing(store):
    def post(worker):
        for i in range(25):
            store.append({"prompt": f"thread {worker} prompt {i}", "model": MODELS[i % 3],
                          "score": i % 2})
    threads = [threading.Thread(target=post, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert routerrec.load_records(store.directory).n_records == 200


def test_processes_appending_to_one_store_lose_and_mix_nothing(tmp_path):
    script = ("import sys\nfrom routerrec.serve.feedback import FeedbackStore\n"
              "store = FeedbackStore(sys.argv[1], None)\n"
              "for i in range(40):\n"
              "    store.remember(f'{sys.argv[2]}-{i}', f'process {sys.argv[2]} prompt {i}', 'gpt-a')\n"
              "    store.append({'prompt': 'x ' * 3000 + f'{sys.argv[2]} {i}', 'model': 'gpt-a', 'score': 1})\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(p)]) for p in range(4)]
    assert [proc.wait(timeout=120) for proc in procs] == [0] * 4
    records = routerrec.load_records(tmp_path)
    assert records.n_records == 160 and all(len(t) > 6000 for t in records.texts["text"])
    assert len(lines(tmp_path, REQUESTS_FILE)) == 160


def test_routerrec_fit_reads_the_store_file_and_folder(tmp_path):
    """The real CLI in a subprocess fits on what the server collected."""
    texts = pl.read_parquet(SAMPLE / "prompts.parquet").head(40)
    sample = pl.read_parquet(SAMPLE / "records.parquet").join(texts, on="prompt")
    models = sorted(sample["model"].unique().to_list())
    with_store = FeedbackStore(tmp_path / "fb", models)
    for row in sample.iter_rows(named=True):
        with_store.append({"prompt": row["text"], "model": row["model"], "score": row["score"],
                           "cost": row.get("cost")})
    with_store.append({"prompt": texts["text"][0], "model": models[0], "score": 0})  # a second opinion
    with_store.close()
    *fits, refused = run_many(*[("fit", "--data", data, "--on-duplicate", "mean", "--method",
                                 "mean", "--out", tmp_path / f"model-{i}", "--json")
                                for i, data in enumerate((tmp_path / "fb" / FEEDBACK, tmp_path / "fb"))],
                              ("fit", "--data", tmp_path / "fb", "--method", "mean", "--out",
                               tmp_path / "m2"))
    for proc in fits:
        assert proc.returncode == 0, proc.stderr
        fitted = json.loads(proc.stdout)
        assert (fitted["train_records"], fitted["prompts"], fitted["models"]) == \
            (sample.height, texts.height, len(models))
    assert refused.returncode == 2 and "duplicate (prompt, model) pair" in refused.stderr


def test_a_folder_without_a_feedback_log_is_not_read_as_one(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(routerrec.RecordsError, match="is not a feedback store: it holds no feedback.jsonl"):
        routerrec.load_records(tmp_path, format="feedback")
    with pytest.raises(routerrec.RecordsError, match="cannot infer the format"):
        routerrec.load_records(tmp_path)


async def post_then_kill(server, models: list, posts: int, kill_after: int) -> set:
    """Post ``posts`` feedback records 8 at a time and SIGKILL the server the moment the
    ``kill_after``-th acknowledgement arrives (others still in flight); the acknowledged
    (text, model) pairs."""
    acked, gate = set(), asyncio.Semaphore(8)
    async with httpx.AsyncClient(timeout=10) as client:
        async def post(i):
            body = {"prompt": f"durable prompt {i}", "model": models[i % len(models)], "score": i % 2}
            async with gate:
                if server.proc.poll() is not None:
                    return
                try:
                    reply = await client.post(server.url + "/v1/feedback", json=body)
                except httpx.HTTPError:
                    return  # in flight when the server died: never acknowledged
            if reply.status_code == 200:
                acked.add((body["prompt"], body["model"]))
                if len(acked) == kill_after:
                    server.proc.kill()
        await asyncio.gather(*(post(i) for i in range(posts)))
    server.proc.wait(timeout=10)
    return acked


def test_every_acknowledged_feedback_survives_a_sigkill_right_after_its_ack(mf_dir, tmp_path):
    store = tmp_path / "feedback"
    with start_server(mf_dir, "--feedback", store) as server:
        models = server.get("/health").json()["models"]
        acked = asyncio.run(post_then_kill(server, models, posts=80, kill_after=40))
    assert len(acked) >= 40 and server.proc.returncode == -9
    stored = {(r["text"], r["model"]) for r in lines(store)}
    assert acked <= stored  # records in flight at the kill may be there too, never half of one
    with start_server(mf_dir, "--feedback", store) as server:  # restarted on the same folder
        reply = server.post("/v1/feedback", json={"prompt": "after the restart", "model": models[0],
                                                  "score": 1})
        assert reply.status_code == 200 and reply.json()["record"]["text"] == "after the restart"
    records = routerrec.load_records(store)
    assert {text_id(text) for text, _ in acked} | {text_id("after the restart")} <= set(records.prompts)
    assert records.n_records == len(stored) + 1


def test_feedback_by_gateway_request_id_survives_a_restart_and_bad_bodies_are_400(mf_dir, tmp_path):
    store = tmp_path / "feedback"
    with start_stub(name="only") as stub:
        models = routerrec.load_sample().models
        (tmp_path / "upstreams.json").write_text(
            json.dumps({"models": {m: {"base_url": stub.base_url} for m in models}}))
        args = ("--upstreams", tmp_path / "upstreams.json", "--feedback", store)
        with start_server(mf_dir, *args) as server:
            chat = server.post("/v1/chat/completions", json={
                "model": "router", "messages": [{"role": "user", "content": "Integrate x^2 from 0 to 3."}]})
            assert chat.status_code == 200
            request_id, model = chat.headers["x-routerrec-request-id"], chat.headers["x-routerrec-model"]
            bad = server.post("/v1/feedback", json={"request_id": request_id, "score": "good"})
            assert bad.status_code == 400 and "score must be a number" in bad.text
            unknown = server.post("/v1/feedback", json={"request_id": "no-such-id", "score": 1})
            assert unknown.status_code == 404 and "send the prompt instead" in unknown.text
            typo = server.post("/v1/feedback", json={"prompt": "p", "model": "gpt-nine", "score": 1})
            assert typo.status_code == 400 and "'gpt-nine' is not one of the router's" in typo.text
            server.proc.kill()
            server.proc.wait(timeout=10)
        with start_server(mf_dir, *args) as server:
            reply = server.post("/v1/feedback", json={"request_id": request_id, "score": 0, "cost": 0.002})
            assert reply.status_code == 200, reply.text
    [record] = lines(store)
    assert (record["text"], record["model"], record["request_id"], record["score"], record["cost"]) == \
        ("Integrate x^2 from 0 to 3.", model, request_id, 0.0, 0.002)
