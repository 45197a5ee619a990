"""Many browser sessions watching one training: latency of the Train tab's poll, and one run only.

The app is served in this process exactly as `python -m clm_gui app` serves it, and trains as it does
(one device: a child process with every core but one). Two sessions first load the same config.yaml and
press Start at the same instant: exactly one run must start. Then `bench/poll_clients.py` (another
process: the browsers) opens many sessions that each run the Train tab's timer event every POLL_SECONDS
over Gradio's queue, as a browser tab does, and records how long each poll takes. A watcher counts the
trainings alive meanwhile.

    python bench/polling_load.py                    # 12 clients for 60 s
    python bench/polling_load.py --clients 20 --seconds 120 --trainer thread

Prints one summary line per figure and exits non-zero if p95 >= 500 ms, if two runs started, or if
more than one training was ever alive at once.
"""

from __future__ import annotations

import argparse
import json
import os
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

import psutil  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402

from clm_gui.config import load_config  # noqa: E402
from clm_gui.hosting.settings import AppSettings  # noqa: E402
from clm_gui.jobs.manager import ThreadLauncher, manager_for  # noqa: E402
from clm_gui.runs.folder import ACTIVE_STATES, list_runs  # noqa: E402
from clm_gui.ui.app import build_app, launch_options  # noqa: E402
from clm_gui.ui.train_actions import POLL_SECONDS, SETTINGS  # noqa: E402
from bench.poll_clients import POLL_SECONDS as CLIENT_POLL_SECONDS  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.fast_runs import fast_config, write_corpus  # noqa: E402

P95_LIMIT_S = 0.5
assert CLIENT_POLL_SECONDS == POLL_SECONDS, "bench/poll_clients.py must poll as often as the Train tab"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def press_start_together(base: str, config_yaml: Path) -> list[str]:
    """Two sessions load the same config.yaml, then press Start at the same instant; their messages."""
    sessions = [Client(base, verbose=False) for _ in range(2)]
    for session in sessions:
        session.predict(handle_file(str(config_yaml)), api_name="/load_yaml")
    cfg = load_config(config_yaml)  # the page shows the loaded settings in its fields, and Start sends them
    values = [cfg.name] + [getattr(cfg.train, setting.key) for setting in SETTINGS]
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


def last_train_record(run) -> dict:
    return next(r for r in reversed(run.read_metrics()) if r.get("kind") == "train")


def count_trainings(runs_dir: Path) -> int:
    threads = sum(t.name.startswith("train-") and t.is_alive() for t in threading.enumerate())
    active = sum(run.read_status().get("state") in ACTIVE_STATES for run in list_runs(runs_dir))
    return max(threads, active)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--trainer", choices=("app", "thread"), default="app",
                        help="app: the app's own launcher (a child process); thread: in the app's process")
    args = parser.parse_args()

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
    if args.trainer == "thread":
        manager_for(runs_dir).launcher = ThreadLauncher()
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
        cpu_before, wall_before, first = time.process_time(), time.time(), last_train_record(list_runs(runs_dir)[0])
        browsers = subprocess.run([sys.executable, str(ROOT / "bench" / "poll_clients.py"), base, "--clients",
                                   str(args.clients), "--seconds", str(args.seconds)],
                                  capture_output=True, text=True, check=True)
        polled = json.loads(browsers.stdout.strip().splitlines()[-1])
        latencies, errors = polled["latencies"], polled["errors"]
        server_cpu, wall = time.process_time() - cpu_before, time.time() - wall_before
        training_cpu = sum(sum(child.cpu_times()[:2]) for child in psutil.Process().children())
        stop_watch.set()
        watcher.join()
        run = list_runs(runs_dir)[0]
        last = last_train_record(run)
        manager_for(runs_dir).stop()
        manager_for(runs_dir).wait(120)
    finally:
        demo.close()

    p50, p95, p99 = (percentile(latencies, q) for q in (50, 95, 99))
    print(f"machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}; "
          f"training: {args.trainer} launcher; clients: {args.clients}; polls: {len(latencies)} over "
          f"{args.seconds:.0f} s (every {POLL_SECONDS:g} s each); errors: {len(errors)}")
    print(f"poll latency: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
          f"max {max(latencies) * 1000:.0f} ms, mean {statistics.mean(latencies) * 1000:.0f} ms")
    trained = (last["tokens"] - first["tokens"]) / max(last["elapsed_s"] - first["elapsed_s"], 1e-9)
    print(f"trainings alive at once, at most: {most[0]}; while watched, the run went from step {first['step']} to "
          f"{last['step']} at {trained:,.0f} tokens/s")
    print(f"CPU seconds: app process {server_cpu:.0f} and clients {polled['cpu_s']:.0f} while polling for "
          f"{wall:.0f} s; training child process {training_cpu:.0f} since it started ({os.cpu_count()} cores)")
    for error in errors[:5]:
        print(f"  poll error: {error}")
    ok = p95 < P95_LIMIT_S and started == 1 and most[0] == 1 and not errors
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
