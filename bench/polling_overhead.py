"""Does watching a run slow it down? Training tokens/s while the Train tab polls, against the same
configuration trained with no page open, in one app process, in alternating rounds.

    python bench/polling_overhead.py [--steps 200] [--rounds 2] [--device auto] [--json]

Every arm trains inside the served app (the job is the app's thread, as when a user presses Start):
- headless: no page open;
- client:   a remote page, as the server sees it: a separate process calls the Train tab's poll endpoint
            through gradio_client every POLL_SECONDS in one session, so unchanged parts come back skipped
            as for a browser; this is the cost to the training machine when the browser runs elsewhere
            (the usual case; only this small client process shares the CPU);
- browser:  a headless Chromium on this machine shows the Train tab (its gr.Timer polls and it redraws
            the charts): the server's cost plus the browser's own rendering on the same CPU.
Throughput comes from the run's own metric records (tokens over training time, the first records
skipped as warm-up), so data preparation and page start-up do not count. Goal: polling within 2%.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402

from clm_gui.config import RunConfig  # noqa: E402
from clm_gui.hosting.settings import AppSettings  # noqa: E402
from clm_gui.jobs.manager import ThreadLauncher, manager_for  # noqa: E402
from clm_gui.runs.folder import RunDir  # noqa: E402
from clm_gui.runs.monitor import current_metrics  # noqa: E402
from clm_gui.ui.train_actions import POLL_SECONDS  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WARMUP_RECORDS = 3


def bench_config(steps: int, device: str) -> RunConfig:
    """A small GPT-2 on the demo corpus, logging often (the worst case for polling: charts change each poll)."""
    cfg = RunConfig(name="polling-bench")
    cfg.data.max_documents = 400
    cfg.tokenizer.vocab_size = 2048
    cfg.model.n_layer, cfg.model.n_head, cfg.model.n_embd, cfg.model.context_length = 2, 4, 128, 128
    t = cfg.train
    t.max_steps, t.micro_batch_size, t.warmup_steps, t.learning_rate = steps, 8, 20, 2e-3
    t.log_interval, t.eval_interval, t.sample_interval, t.save_interval = 5, 0, 0, 0
    t.sample_max_new_tokens, t.device = 16, device
    return cfg.check()


def tokens_per_second(run: RunDir) -> float:
    train = [r for r in current_metrics(run) if r.get("kind") == "train"][WARMUP_RECORDS:]
    if len(train) < 2:
        raise SystemExit(f"run {run.id} logged too few steps to measure; raise --steps")
    return (train[-1]["tokens"] - train[0]["tokens"]) / (train[-1]["elapsed_s"] - train[0]["elapsed_s"])


def serve(runs_dir: Path, port: int):
    from clm_gui.ui.app import build_app

    demo = build_app(AppSettings(runs_dir=runs_dir, port=port))
    demo.queue(default_concurrency_limit=4)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                allowed_paths=[str(runs_dir)])
    return demo


def open_train_tab(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("tab", name="Train").click(timeout=120_000)
    page.wait_for_selector("#train-status", timeout=120_000)


POLLER = """
import json, sys, time
from gradio_client import Client
url, interval, count, grow = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
client = Client(url, verbose=False)
for _ in range(3):  # a session's first poll sends everything
    client.predict("", False, 0.6, api_name="/poll")
print("ready", flush=True)
step = 10**6
for _ in range(count or 10**12):
    if grow:  # a new metric record before each poll: every poll redraws the charts (the worst case)
        step += 5
        record = {"kind": "train", "step": step, "tokens": step * 1024, "train_loss": 5.0, "lr": 1e-3,
                  "tokens_per_s": 1000.0, "elapsed_s": step / 10, "memory_gb": 1.0}
        with open(grow, "a") as f:
            f.write(json.dumps(record) + "\\n")
    client.predict("", False, 0.6, api_name="/poll")
    time.sleep(interval)
"""


class ClientPoller:
    """A remote page as the server sees it: a separate process (so it takes no share of the app's GIL)
    whose one session calls the Train tab's poll every `interval` seconds (`count` times; 0: until stopped),
    optionally appending a metric record to `grow` before each call."""

    def __init__(self, url: str, interval: float = POLL_SECONDS, count: int = 0, grow: Path | None = None):
        self.process = subprocess.Popen([sys.executable, "-c", POLLER, url, str(interval), str(count),
                                         str(grow or "")], stdout=subprocess.PIPE, text=True)

    def wait_ready(self) -> None:
        self.process.stdout.readline()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def server_cpu_per_poll(url: str, live: RunDir, polls: int = 60, grow: bool = True) -> float:
    """CPU seconds the app process spends answering one poll of the Train tab (no training running).

    `live` is made to look like a run in training (status "running" by this process); with `grow`, a
    metric record lands before each poll, so every poll rebuilds and sends the charts.
    """
    live.write_status("running", "Benchmark: a run that looks live.", pid=os.getpid(), started=time.time())
    try:
        me = psutil.Process()
        poller = ClientPoller(url, 0.2, polls, live.metrics_path if grow else None)
        poller.wait_ready()  # connected, and past the session's first (full) polls
        before = sum(me.cpu_times()[:2])
        poller.process.wait()
        return (sum(me.cpu_times()[:2]) - before) / polls
    finally:
        live.write_status("finished", "Benchmark over.", pid=None)


def train_once(manager, cfg: RunConfig, page=None) -> RunDir:
    """Train `cfg` to the end; with a page open on the Train tab, it re-attaches and watches throughout."""
    run = manager.start(cfg)
    if page is not None:
        page.wait_for_function("() => document.querySelector('#train-status')?.innerText.includes('live')",
                               timeout=600_000)
    status = manager.wait()
    if status["state"] != "finished":
        raise SystemExit(f"run {run.id} ended {status['state']}: {status.get('message')}")
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--port", type=int, default=7871)
    parser.add_argument("--runs-dir", type=Path, default=Path("/tmp/clm-gui-polling-bench"))
    parser.add_argument("--arms", default="headless,client,browser", help="comma-separated; headless first")
    parser.add_argument("--launcher", choices=("process", "thread"), default="process",
                        help="train in a child process (the app's default) or in a thread of the app")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    cfg = bench_config(args.steps, args.device)
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    demo = serve(args.runs_dir, args.port)
    manager = manager_for(args.runs_dir)
    if args.launcher == "thread":
        manager.launcher = ThreadLauncher()
    url = f"http://127.0.0.1:{args.port}"
    arms = args.arms.split(",")
    results = {arm: [] for arm in arms}
    try:
        train_once(manager, bench_config(20, args.device))  # builds the token cache, warms up; not measured
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for round_ in range(args.rounds):
                for arm in arms if round_ % 2 == 0 else arms[::-1]:  # alternate the order against drift
                    if arm == "browser":
                        open_train_tab(page, url)
                    else:
                        page.goto("about:blank")  # no page polls
                    poller = ClientPoller(url) if arm == "client" else None
                    run = train_once(manager, cfg, page if arm == "browser" else None)
                    if poller:
                        poller.stop()
                    results[arm].append(tokens_per_second(run))
                    print(f"round {round_ + 1} {arm:8s} {results[arm][-1]:10,.0f} tokens/s", file=sys.stderr)
            browser.close()
        per_poll = {"changed": server_cpu_per_poll(url, run), "unchanged": server_cpu_per_poll(url, run, grow=False)}
    finally:
        demo.close()
    median = {arm: statistics.median(values) for arm, values in results.items()}
    summary = {"steps": args.steps, "rounds": args.rounds, "poll_seconds": POLL_SECONDS, "launcher": args.launcher,
               "load_average_1min": round(os.getloadavg()[0], 2),
               "server_cpu_ms_per_poll": {k: round(v * 1000, 2) for k, v in per_poll.items()},
               **{f"{arm}_tokens_per_s": round(median[arm]) for arm in arms},
               **{f"{arm}_ratio": round(median[arm] / median["headless"], 4) for arm in arms[1:]},
               "per_round": results}
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        labels = {"headless": "no page (headless)", "client": "remote page polling", "browser": "Chromium on this box"}
        for arm in arms:
            ratio = median[arm] / median["headless"]
            print(f"{labels[arm]:22s} {median[arm]:10,.0f} tokens/s (median of {args.rounds})"
                  + (f"  ratio {ratio:.3f} ({1 - ratio:+.1%} slower)" if arm != "headless" else ""))
        for case, seconds in per_poll.items():
            print(f"server CPU per poll, metrics {case:9s}: {seconds * 1000:6.1f} ms "
                  f"= {seconds / POLL_SECONDS:.2%} of one core at one poll every {POLL_SECONDS:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
