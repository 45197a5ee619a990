"""Many browser sessions watching one training: latency of the Train tab's poll, and one run only.

The app is served in this process exactly as `python -m clm_gui app` serves it (training in the app's
own thread, as in production). Each simulated client is a separate Gradio session (gradio_client, over
HTTP and the queue, like a browser tab) that calls the Train tab's `poll` event every POLL_SECONDS, as
its gr.Timer does. Two of the sessions first load the same config.yaml and press Start at the same
instant: exactly one run must start. While the clients poll, a watcher counts the trainings alive.

    python bench/polling_load.py                    # 12 clients for 60 s
    python bench/polling_load.py --clients 20 --seconds 120

Prints one summary line per figure and exits non-zero if p95 >= 500 ms, if two runs started, or if
more than one training was ever alive at once.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client, handle_file  # noqa: E402

from clm_gui.jobs import manager_for  # noqa: E402
from clm_gui.launch import ProcessHandle  # noqa: E402
from clm_gui.runs import ACTIVE_STATES, list_runs  # noqa: E402
from clm_gui.settings import AppSettings  # noqa: E402
from clm_gui.ui.app import build_app, launch_options  # noqa: E402
from clm_gui.ui.train_tab import POLL_SECONDS  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.fast_runs import fast_config, write_corpus  # noqa: E402

P95_LIMIT_S = 0.5


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def press_start_together(base: str, config_yaml: Path) -> list[str]:
    """Two sessions load the same config.yaml, then press Start at the same instant; their messages."""
    sessions = [Client(base, verbose=False) for _ in range(2)]
    for session in sessions:
        session.predict(handle_file(str(config_yaml)), api_name="/load_yaml")
    defaults = sessions[0].view_api(return_format="dict", print_info=False)["named_endpoints"]["/start"]["parameters"]
    values = [p["parameter_default"] for p in defaults]  # the run name and the training fields, as shown
    barrier, messages = threading.Barrier(2), []

    def press(session: Client) -> None:
        barrier.wait()
        messages.append(session.predict(*values, api_name="/start")[1])

    threads = [threading.Thread(target=press, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return messages


def poll_loop(session: Client, seconds: float, latencies: list[float], errors: list[str], rng: random.Random) -> None:
    time.sleep(rng.uniform(0, POLL_SECONDS))  # browsers opened at different moments
    deadline = time.time() + seconds
    while time.time() < deadline:
        started = time.perf_counter()
        try:
            session.predict("", False, 0.6, api_name="/poll")
        except Exception as exc:  # a failed poll is a result to report, not a crash of the benchmark
            errors.append(f"{type(exc).__name__}: {exc}")
        took = time.perf_counter() - started
        latencies.append(took)
        time.sleep(max(0.0, POLL_SECONDS - took))


def run_clients(base: str, clients: int, seconds: float) -> None:
    """The browsers: in their own process (as browsers are), so they do not share the server's GIL.
    Prints one JSON line: every poll's latency and every error."""
    sessions = [Client(base, verbose=False) for _ in range(clients)]  # the pages are open already
    latencies, errors, rng = [], [], random.Random(0)
    threads = [threading.Thread(target=poll_loop, args=(s, seconds, latencies, errors, random.Random(rng.random())))
               for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"latencies": latencies, "errors": errors}))


class ProcessLauncher:
    """--trainer process: the same training in a child process (`python -m clm_gui train --run-dir`), for
    comparison with the app's default of a thread in its own process (which shares the GIL with the server)."""

    def launch(self, run, cfg, resume: bool) -> ProcessHandle:
        argv = [sys.executable, "-m", "clm_gui", "train", "--resume" if resume else "--run-dir", str(run.path)]
        with open(run.log_path, "a", encoding="utf-8") as log:
            process = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return ProcessHandle(process)


def count_trainings(runs_dir: Path) -> int:
    threads = sum(t.name.startswith("train-") and t.is_alive() for t in threading.enumerate())
    active = sum(run.read_status().get("state") in ACTIVE_STATES for run in list_runs(runs_dir))
    return max(threads, active)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--trainer", choices=("thread", "process"), default="thread",
                        help="thread: as the app trains one device (default); process: in a child process")
    parser.add_argument("--torch-threads", type=int, default=0,
                        help="CPU threads for the training (0: torch's default, every core)")
    parser.add_argument("--clients-of", metavar="URL", help=argparse.SUPPRESS)  # the browsers' process
    args = parser.parse_args()
    if args.clients_of:
        run_clients(args.clients_of, args.clients, args.seconds)
        return 0

    work = Path(tempfile.mkdtemp(prefix="clm-load-"))
    runs_dir = work / "runs"
    cfg = fast_config(write_corpus(work / "corpus.txt", paragraphs=2000), max_steps=100_000, save_interval=200,
                      log_interval=5, eval_interval=100, eval_batches=2)
    cfg.model.n_layer, cfg.model.n_embd, cfg.model.context_length = 2, 64, 64  # busy enough to load the CPU
    cfg.check().save(work / "config.yaml")

    settings = AppSettings(runs_dir=runs_dir, port=free_port())
    runs_dir.mkdir(parents=True)
    demo = build_app(settings).queue(default_concurrency_limit=4)
    demo.launch(**launch_options(settings), prevent_thread_lock=True, quiet=True)
    base = f"http://127.0.0.1:{settings.port}"
    if args.trainer == "process":
        manager_for(runs_dir).launcher = ProcessLauncher()
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    try:
        messages = press_start_together(base, work / "config.yaml")
        started = len(list_runs(runs_dir))
        print(f"two simultaneous Start clicks: {started} run(s) started; answers: {sorted(messages)}")
        while not any(r.metrics_path.exists() for r in list_runs(runs_dir)):
            time.sleep(0.5)

        most = [0]
        stop_watch = threading.Event()

        def watch() -> None:
            while not stop_watch.is_set():
                most[0] = max(most[0], count_trainings(runs_dir))
                time.sleep(0.2)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        browsers = subprocess.run([sys.executable, __file__, "--clients-of", base, "--clients", str(args.clients),
                                   "--seconds", str(args.seconds)], capture_output=True, text=True, check=True)
        polled = json.loads(browsers.stdout.strip().splitlines()[-1])
        latencies, errors = polled["latencies"], polled["errors"]
        stop_watch.set()
        watcher.join()
        run = list_runs(runs_dir)[0]
        step = run.read_status().get("step", 0)
        records = [r for r in run.read_metrics() if r.get("kind") == "train"]
        manager_for(runs_dir).stop()
        manager_for(runs_dir).wait(120)
    finally:
        demo.close()

    p50, p95, p99 = (percentile(latencies, q) for q in (50, 95, 99))
    print(f"machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}; training in a {args.trainer} "
          f"({args.torch_threads or 'all'} torch threads); "
          f"clients: {args.clients}; polls: {len(latencies)} over {args.seconds:.0f} s (every {POLL_SECONDS:g} s "
          f"each); errors: {len(errors)}")
    print(f"poll latency: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
          f"max {max(latencies) * 1000:.0f} ms, mean {statistics.mean(latencies) * 1000:.0f} ms")
    last = records[-1] if records else {"step": step, "tokens_per_s": 0}
    print(f"trainings alive at once, at most: {most[0]}; the run reached step {last['step']} "
          f"at {last['tokens_per_s']:,.0f} tokens/s while being watched")
    for error in errors[:5]:
        print(f"  poll error: {error}")
    ok = p95 < P95_LIMIT_S and started == 1 and most[0] == 1 and not errors
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
