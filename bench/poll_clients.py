"""Simulated browser tabs for bench/polling_load.py: each polls the Train tab as its gr.Timer does.

A tab is a Gradio session speaking the browser's protocol: POST /gradio_api/queue/join with the timer's
event, then read /gradio_api/queue/data (server-sent events) until the event completes. All tabs share
one asyncio loop in this process, which imports neither torch nor the app, so the simulated browsers
use little of the CPU the app is measured on (real browsers run on other machines).

    python bench/poll_clients.py URL --clients 12 --seconds 60     # prints one JSON line
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import time

import httpx

POLL_API = "poll"  # the Train tab's gr.Timer event
POLL_SECONDS = 2.0  # clm_gui.ui.train_actions.POLL_SECONDS, repeated to keep this process free of the app


def poll_event(config: dict) -> tuple[int, int, list]:
    """(fn_index, trigger_id, data) of the timer's poll: the Live run, linear scale, smoothing 0.6, the latest
    samples."""
    dependency = next(d for d in config["dependencies"] if d.get("api_name") == POLL_API)
    trigger = dependency["targets"][0][0]
    data = ["", False, 0.6, ""] + [None] * (len(dependency["inputs"]) - 4)  # state inputs stay on the server
    return dependency["id"], trigger, data


async def poll_once(client: httpx.AsyncClient, base: str, session: str, event: tuple[int, int, list]) -> None:
    fn_index, trigger, data = event
    joined = await client.post(f"{base}/gradio_api/queue/join", json={
        "data": data, "event_data": None, "fn_index": fn_index, "trigger_id": trigger, "session_hash": session})
    joined.raise_for_status()
    event_id = joined.json()["event_id"]
    async with client.stream("GET", f"{base}/gradio_api/queue/data", params={"session_hash": session}) as stream:
        async for line in stream.aiter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") == "process_completed" and message.get("event_id") == event_id:
                if not message.get("success"):
                    raise RuntimeError(f"the poll failed: {str(message.get('output'))[:200]}")
                return
    raise RuntimeError("the event stream closed before the poll completed")


async def tab(base: str, event, seconds: float, rng: random.Random, latencies: list, errors: list) -> None:
    session = secrets.token_hex(6)
    async with httpx.AsyncClient(timeout=60) as client:
        await poll_once(client, base, session, event)  # the page opens: its first, full refresh
        await asyncio.sleep(rng.uniform(0, POLL_SECONDS))  # tabs opened at different moments
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                await poll_once(client, base, session, event)
            except Exception as exc:  # a failed poll is a result to report
                errors.append(f"{type(exc).__name__}: {exc}")
            took = time.perf_counter() - started
            latencies.append(took)
            await asyncio.sleep(max(0.0, POLL_SECONDS - took))


async def run(base: str, clients: int, seconds: float) -> dict:
    event = poll_event(httpx.get(f"{base}/config", timeout=60).json())
    latencies, errors, rng = [], [], random.Random(0)
    await asyncio.gather(*(tab(base, event, seconds, random.Random(rng.random()), latencies, errors)
                           for _ in range(clients)))
    return {"latencies": latencies, "errors": errors, "cpu_s": time.process_time()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.url, args.clients, args.seconds))))


if __name__ == "__main__":
    main()
