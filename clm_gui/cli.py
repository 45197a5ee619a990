"""The command line: everything the UI does, scriptable.

    python -m clm_gui app [--host H] [--port P] [--hosted] [--auth USER:PASS ...] [--admin USER ...]
                          [--runs-dir DIR] [--max-upload-mb N] [--max-upload-storage-mb N]
                          [--max-runs-per-owner N] [--max-train-minutes M]
    python -m clm_gui train [CONFIG.yaml] [--resume RUN_DIR] [--set section.key=value ...]
    python -m clm_gui generate MODEL_OR_RUN_DIR --prompt TEXT [--max-new-tokens N] [--temperature T]
    python -m clm_gui export RUN_OR_MODEL --format gguf [--outtype f32|f16|bf16|q8_0] [--out FILE] [--json]
    python -m clm_gui tokenizer train SOURCE --algorithm bpe|wordpiece|unigram --vocab-size N --out DIR
    python -m clm_gui tokenizer eval DIR SOURCE [--json]
    python -m clm_gui profile SOURCE [--streaming | --in-memory] [--text-column C] [--sample N] [--json]
    python -m clm_gui hardware [--json]
    python -m clm_gui recommend [--device cpu|cuda] [--gpu-memory-gb X] [--hours H] [--dataset-tokens N] [--json]
    python -m clm_gui evaluate MODEL_OR_RUN_DIR SOURCE [--split all|eval|train] [--json]
    python -m clm_gui quickstart SOURCE --minutes N [--device D] [--runs-dir DIR] [--plan-only] [--json]

Bad input exits non-zero with a readable message on stderr; `--json` prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from clm_gui.config import (FAMILIES, TEXT_UNITS, TOKENIZER_ALGORITHMS, DataConfig, ModelConfig, RunConfig,
                            TokenizerConfig)
from clm_gui.errors import ConfigError, UserError
from clm_gui.hosting.quotas import Quotas
from clm_gui.hosting.settings import (
    AppSettings,
    admins_from_env,
    default_runs_dir,
    hosted_from_env,
    server_name_from_env,
    server_port_from_env,
)
from clm_gui.units import format_bytes


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=1, default=str))


# ---------------------------------------------------------------------------------------------
# app


def _add_app(sub) -> None:
    p = sub.add_parser("app", help="launch the web app")
    p.add_argument("--host", default=server_name_from_env(),
                   help="address to bind (default GRADIO_SERVER_NAME, else 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=server_port_from_env(),
                   help="port to listen on (default GRADIO_SERVER_PORT, else 7860)")
    p.add_argument("--hosted", action="store_true", default=hosted_from_env(),
                   help="public/shared mode: no server paths, uploads and the Hub only (or CLM_GUI_HOSTED=1; "
                        "always on a Hugging Face Space)")
    p.add_argument("--auth", action="append", metavar="USER:PASS",
                   help="a login required to open the app (repeatable: each user owns the runs they start)")
    p.add_argument("--admin", action="append", default=admins_from_env(), metavar="USER",
                   help="hosted: a logged-in user who may control every run and has no quotas (repeatable; "
                        "or CLM_GUI_ADMINS=alice,bob)")
    p.add_argument("--runs-dir", type=Path, default=None)
    settings, quotas = AppSettings(), Quotas()
    p.add_argument("--max-upload-mb", type=int, default=settings.max_upload_mb, help="the size of one uploaded file")
    p.add_argument("--max-upload-storage-mb", type=int, default=quotas.max_upload_storage_mb,
                   help="hosted: all the uploads one person keeps")
    p.add_argument("--max-runs-per-owner", type=int, default=quotas.max_runs_per_owner,
                   help="hosted: the runs one person keeps")
    p.add_argument("--max-train-minutes", type=float, default=quotas.max_train_minutes,
                   help="hosted: the training time of one run")
    p.set_defaults(func=_run_app)


def parse_auth(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise UserError("--auth must look like USER:PASS, both non-empty.")
    return user, password


def app_settings(args) -> AppSettings:
    """The settings of `python -m clm_gui app ARGS`."""
    for option in ("max_upload_mb", "max_upload_storage_mb", "max_runs_per_owner", "max_train_minutes"):
        if not getattr(args, option) > 0:
            raise UserError(f"--{option.replace('_', '-')} must be a positive number (it is {getattr(args, option)}).")
    quotas = Quotas(max_upload_storage_mb=args.max_upload_storage_mb, max_runs_per_owner=args.max_runs_per_owner,
                    max_train_minutes=args.max_train_minutes)
    logins = [parse_auth(text) for text in args.auth or []]
    return AppSettings(runs_dir=args.runs_dir or default_runs_dir(), hosted=args.hosted, host=args.host,
                       port=args.port, auth=logins or None, admins=tuple(args.admin),
                       max_upload_mb=args.max_upload_mb, quotas=quotas)


def _run_app(args) -> int:
    from clm_gui.ui.app import launch

    launch(app_settings(args))
    return 0


# ---------------------------------------------------------------------------------------------
# train


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model from a config file (headless)")
    p.add_argument("config", nargs="?", type=Path, help="run configuration (YAML)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a stopped run from its last checkpoint")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one setting, e.g. --set train.max_steps=200 (repeatable)")
    p.add_argument("--runs-dir", type=Path, default=None, help="where new runs are created (default ./runs)")
    p.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)  # the app's launcher: a prepared run folder
    p.add_argument("--json", action="store_true", help="print the final status as JSON")
    p.set_defaults(func=_run_train)


def _run_train(args) -> int:
    from clm_gui.jobs.preparation import prepare_process_run
    from clm_gui.machine.devices import world_size

    run, cfg, lock = prepare_process_run(args.config, args.overrides, args.resume, args.run_dir,
                                         args.runs_dir or default_runs_dir())
    with lock or contextlib.nullcontext():  # held by rank 0 until training ends
        code = _train_prepared(args, run, cfg)
    if world_size() > 1:
        # One of several processes, its work written and its process group closed: leave without the
        # interpreter's teardown. There a C++ thread that torch.distributed left running can abort a rank that
        # has finished ("terminate called without an active exception", SIGABRT: the FSDP resume test, once
        # in a full suite on a loaded 2-core machine), and torchrun then reports the whole run as failed.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _train_prepared(args, run, cfg) -> int:
    from clm_gui.runs.faults import crash_message
    from clm_gui.train.trainer import train

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())  # finish the step, save a checkpoint, exit
    main_process = os.environ.get("RANK", "0") == "0"  # under torchrun / accelerate launch, rank 0 reports
    if main_process:
        # On a terminal, the folder; in train.log (the app's training child writes there, and the Train tab
        # shows it to every visitor), the run's id only: a hosted page shows no server path.
        print(f"Run folder: {run.path}" if sys.stderr.isatty() else f"Run: {run.id}", file=sys.stderr)
    with _ProgressBar(cfg.train.max_steps, enabled=main_process) as bar:
        try:
            status = train(cfg, run, resume=args.resume is not None, should_stop=stop.is_set, on_log=bar.update)
        except Exception as exc:  # a bug: its traceback follows, and the run must not stay "running"
            if main_process:
                run.write_status("failed", crash_message(exc, "this process's error output (train.log when "
                                                               "the app started it)"),
                                 pid=None, finished=time.time())
            raise
    if main_process:
        if args.json:
            _print_json(status)
        print(f"{status['state']}: {status['message']}", file=sys.stderr)
    return 0 if status["state"] in ("finished", "stopped") else 1


class _ProgressBar:
    """A terminal progress bar fed by the trainer's metric records."""

    def __init__(self, total_steps: int, enabled: bool = True):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total_steps or None, unit="step", file=sys.stderr, dynamic_ncols=True,
                        disable=None if enabled else True)  # None: off when stderr is a file (an app's train.log)

    def update(self, record: dict) -> None:
        if record.get("kind") == "train":
            self.bar.update(record["step"] - self.bar.n)
            self.bar.set_postfix(loss=f"{record['train_loss']:.3f}", tok_s=f"{record['tokens_per_s']:,.0f}")
        elif record.get("kind") == "eval":
            self.bar.write(f"step {record['step']}: eval loss {record['eval_loss']:.4f}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()


# ---------------------------------------------------------------------------------------------
# generate


def _add_generate(sub) -> None:
    p = sub.add_parser("generate", help="sample text from a run, its final model or a checkpoint")
    p.add_argument("model", type=Path, help="run folder, final/ folder or checkpoint folder")
    p.add_argument("--prompt", required=True)
    # Left out, each keeps model/generate.SamplingSettings' default, as the Playground's sliders start at.
    p.add_argument("--max-new-tokens", type=int)
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-k", type=int, help="0: off")
    p.add_argument("--top-p", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_run_generate)


def _run_generate(args) -> int:
    from clm_gui.model.generate import SamplingSettings, generate, load_for_generation

    given = {name: getattr(args, name) for name in ("max_new_tokens", "temperature", "top_k", "top_p", "seed")}
    settings = SamplingSettings(**{name: value for name, value in given.items() if value is not None})
    model, tokenizer = load_for_generation(args.model)
    text = generate(model, tokenizer, args.prompt, settings)
    if args.json:
        _print_json({"prompt": args.prompt, "text": text})
    else:
        print(text)
    return 0


# ---------------------------------------------------------------------------------------------
# export


def _add_export(sub) -> None:
    from clm_gui.runs.gguf_outtypes import DEFAULT_OUTTYPE, OUTTYPES

    p = sub.add_parser("export", help="write a run's final model as one GGUF file for llama.cpp and Ollama")
    p.add_argument("model", type=Path, help="a run folder (its final/ model) or a final/ folder")
    p.add_argument("--format", required=True, choices=["gguf"],
                   help="gguf: one file with the tokenizer inside, plus an Ollama Modelfile beside it")
    p.add_argument("--outtype", default=DEFAULT_OUTTYPE, choices=list(OUTTYPES),
                   help=f"the type of the weight matrices (default {DEFAULT_OUTTYPE}; q8_0: about half of f16)")
    p.add_argument("--out", type=Path, help="the .gguf file to write (default ./RUN-OUTTYPE.gguf)")
    p.add_argument("--json", action="store_true", help='print {"path", "modelfile", "bytes", "seconds", ...}')
    p.set_defaults(func=_run_export)


def _run_export(args) -> int:
    from tqdm.auto import tqdm

    from clm_gui.runs.gguf_export import export_gguf

    with tqdm(unit="B", unit_scale=True, file=sys.stderr, dynamic_ncols=True) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = export_gguf(args.model, args.outtype, args.out, on_progress=progress)
    if args.json:
        _print_json({"path": str(result.path), "modelfile": str(result.modelfile), "outtype": result.outtype,
                     "bytes": result.bytes, "seconds": round(result.seconds, 2)})
    else:
        print(f"Wrote {result.path} ({format_bytes(result.bytes)}, {result.outtype}) in {result.seconds:.1f} s and "
              f"the Ollama Modelfile {result.modelfile}.\n"
              f"Run it: llama-completion -m {result.path} -no-cnv -p \"a prompt\" -n 100\n"
              f"    or: ollama create NAME -f {result.modelfile} && ollama run NAME \"a prompt\"")
    return 0


# ---------------------------------------------------------------------------------------------
# tokenizer train / eval


def _add_tokenizer(sub) -> None:
    p = sub.add_parser("tokenizer", help="train a tokenizer, or evaluate one on a dataset's held-out text")
    actions = p.add_subparsers(dest="action", required=True)

    t = actions.add_parser("train", help="train a tokenizer on a dataset's training split and save it")
    t.add_argument("source", help="demo, a file or folder, or hub:ID[:CONFIG[:SPLIT]]")
    tok = TokenizerConfig()  # each option's default and choices are the setting's own
    t.add_argument("--algorithm", choices=TOKENIZER_ALGORITHMS, default=tok.algorithm)
    t.add_argument("--vocab-size", type=int, default=tok.vocab_size)
    t.add_argument("--min-frequency", type=int, default=tok.min_frequency, help="bpe and wordpiece: drop rarer merges")
    t.add_argument("--sample", type=int, default=tok.sample_documents, metavar="N",
                   help="train on the first N documents (0: all)")
    t.add_argument("--lowercase", action="store_true")
    t.add_argument("--nfkc", action="store_true", help="Unicode NFKC normalisation (merges look-alikes)")
    t.add_argument("--out", type=Path, required=True, help="folder to save the tokenizer in (Hugging Face format)")
    e = actions.add_parser("eval", help="bytes per token, fertility, unknown rate... on held-out text")
    e.add_argument("tokenizer", help="tokenizer folder, run folder or Hub id")
    e.add_argument("source", help="demo, a file or folder, or hub:ID[:CONFIG[:SPLIT]]")
    for parser in (t, e):
        parser.add_argument("--text-column", default="")
        parser.add_argument("--max-documents", type=int, default=DataConfig().max_documents,
                            help="read at most this many documents")
        parser.add_argument("--json", action="store_true")
    t.set_defaults(func=_run_tokenizer_train)
    e.set_defaults(func=_run_tokenizer_eval)


def _checked_config(args, **tokenizer):
    data = DataConfig(source=args.source, text_column=args.text_column, max_documents=args.max_documents)
    return RunConfig(data=data, tokenizer=TokenizerConfig(**tokenizer)).check()


def _run_tokenizer_train(args) -> int:
    from tqdm.auto import tqdm

    from clm_gui.data.held_out import stream_documents
    from clm_gui.tokenizer.loading import save_tokenizer
    from clm_gui.tokenizer.training import train_tokenizer

    cfg = _checked_config(args, algorithm=args.algorithm, vocab_size=args.vocab_size, nfkc=args.nfkc,
                          min_frequency=args.min_frequency, sample_documents=args.sample, lowercase=args.lowercase)
    read = {"documents": 0, "bytes": 0}
    start = time.perf_counter()
    with tqdm(total=args.sample or None, unit="doc", file=sys.stderr, dynamic_ncols=True) as bar:
        def progress(documents: int, size: int) -> None:
            bar.update(documents - bar.n)
            bar.set_postfix(MB=f"{size / 1e6:,.1f}")
            read.update(documents=documents, bytes=size)

        tok = train_tokenizer(stream_documents(cfg.data, "train"), cfg.tokenizer, on_progress=progress)
    seconds = time.perf_counter() - start
    save_tokenizer(tok, args.out)
    summary = {"out": str(args.out), "algorithm": args.algorithm, "vocab_size": len(tok), **read,
               "seconds": round(seconds, 2)}
    if args.json:
        _print_json(summary)
    else:
        print(f"Saved a {args.algorithm} tokenizer of {len(tok):,} tokens to {args.out} "
              f"({read['documents']:,} documents, {format_bytes(read['bytes'])} in {seconds:.1f} s).")
    return 0


def _run_tokenizer_eval(args) -> int:
    from clm_gui.data.held_out import held_out_texts
    from clm_gui.tokenizer.loading import load_tokenizer
    from clm_gui.tokenizer.quality import evaluate_tokenizer

    cfg = _checked_config(args)
    tok = load_tokenizer(args.tokenizer, add_eos=True)  # evaluation needs no end-of-text token of its own
    report = evaluate_tokenizer(tok, held_out_texts(cfg.data), name=args.tokenizer)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(f"{args.tokenizer}: {report.vocab_size:,} tokens in the vocabulary; on {report.documents:,} "
              f"held-out documents ({format_bytes(report.bytes)}):")
        for name in report.RATIOS:
            print(f"  {name.replace('_', ' '):<16} {getattr(report, name):.4f}")
    return 0


# ---------------------------------------------------------------------------------------------
# profile


def _add_profile(sub) -> None:
    p = sub.add_parser("profile", help="profile a dataset: sizes, lengths, duplicates, domain, recommendations")
    p.add_argument("source", help="demo, a file or folder, or hub:ID[:CONFIG[:SPLIT]]")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--streaming", dest="streaming", action="store_true", default=None,
                      help="read a sample lazily and estimate the totals (default: the recommended mode)")
    mode.add_argument("--in-memory", dest="streaming", action="store_false", help="load everything; exact figures")
    p.add_argument("--text-column", default="", help="the column holding the text (default: detected)")
    p.add_argument("--text-unit", default=DataConfig().text_unit,
                   help=f"plain-text files: {', '.join(TEXT_UNITS[:-1])} or {TEXT_UNITS[-1]}")
    p.add_argument("--sample", type=int, default=None, metavar="N",
                   help="streaming: profile the first N documents (default 2000)")
    p.add_argument("--max-documents", type=int, default=DataConfig().max_documents,
                   help="read at most this many documents (0: all)")
    p.add_argument("--tokenizer", help="tokenizer folder or Hub id: adds tokens per document and total tokens")
    p.add_argument("--json", action="store_true", help="print the profile as one JSON object")
    p.set_defaults(func=_run_profile)


def _run_profile(args) -> int:
    from tqdm.auto import tqdm

    from clm_gui.data.profiling import DEFAULT_SAMPLE, profile_source, profile_summary, recommend_for_source

    data = DataConfig(source=args.source, text_column=args.text_column, text_unit=args.text_unit,
                      max_documents=args.max_documents).check()
    if args.streaming is None:
        recommendation = recommend_for_source(data)
        args.streaming = recommendation["mode"] == "streaming"
        print(f"Mode: {recommendation['mode']} (recommended). {recommendation['reason']}", file=sys.stderr)
    data.streaming = args.streaming
    tokenizer = None
    if args.tokenizer:
        from clm_gui.tokenizer.loading import load_tokenizer

        tokenizer = load_tokenizer(args.tokenizer, add_eos=True)
    with tqdm(unit="doc", file=sys.stderr, dynamic_ncols=True) as bar:
        def progress(read: int, expected: int | None) -> None:
            bar.total = expected
            bar.update(read - bar.n)

        profile = profile_source(data, sample=args.sample or DEFAULT_SAMPLE, tokenizer=tokenizer, progress=progress)
    if args.json:
        _print_json(profile.to_dict())
    else:
        width = max(len(label) for label, _ in profile_summary(profile))
        for label, value in profile_summary(profile):
            print(f"{label:<{width}}  {value}")
    return 0


# ---------------------------------------------------------------------------------------------
# hardware


def _add_hardware(sub) -> None:
    p = sub.add_parser("hardware", help="CPU, RAM, disk and NVIDIA GPUs of this machine")
    p.add_argument("--runs-dir", type=Path, default=None, help="report free disk space here (default ./runs)")
    p.add_argument("--json", action="store_true", help='print {"cpu": {...}, "memory": {...}, "gpus": [...], ...}')
    p.set_defaults(func=_run_hardware)


def _run_hardware(args) -> int:
    from clm_gui.machine.hardware import snapshot, summary_rows

    snap = snapshot(args.runs_dir or default_runs_dir(), cpu_interval=0.2)
    if args.json:
        _print_json(snap.to_dict())
    else:
        _print_rows(summary_rows(snap))
    return 0


def _print_rows(rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


# ---------------------------------------------------------------------------------------------
# recommend


def _add_recommend(sub) -> None:
    p = sub.add_parser("recommend", help="the model size, batch and token budget for a device and a time budget")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="plan for this machine's CPU or GPUs (auto: a GPU when there is one)")
    p.add_argument("--gpu-memory-gb", type=float, help="usable memory per GPU (default: free memory of GPU 0)")
    p.add_argument("--gpu-model", help="plan for this GPU (e.g. 'H100 SXM', 'A100'; default: the one here)")
    p.add_argument("--gpus", type=int, help="number of GPUs (default: all visible)")
    p.add_argument("--hours", type=float, default=1.0, help="time budget for training (default 1)")
    p.add_argument("--dataset-tokens", type=int, help="tokens in the training data (warns about many epochs)")
    vocab_size = TokenizerConfig().vocab_size
    p.add_argument("--vocab-size", type=int, default=vocab_size, help=f"tokenizer vocabulary (default {vocab_size})")
    p.add_argument("--family", default=ModelConfig().family, choices=FAMILIES)
    p.add_argument("--context", type=int, default=0, help="context length (default: chosen by model size)")
    p.add_argument("--json", action="store_true", help='print {"n_params", "peak_memory_gb", "tokens", ...}')
    p.set_defaults(func=_run_recommend)


def _run_recommend(args) -> int:
    from clm_gui.machine.hardware import cpu_threads_in_this_process, planner_device
    from clm_gui.model.planner import PlanRequest, plan_summary, recommend

    # for the command line's own `train`, which trains in its process with its threads
    device = planner_device(args.device, args.gpu_memory_gb, args.gpu_model, args.gpus,
                            cpu_threads=cpu_threads_in_this_process())
    plan = recommend(PlanRequest(device=device, hours=args.hours, dataset_tokens=args.dataset_tokens,
                                 vocab_size=args.vocab_size, family=args.family, context_length=args.context))
    if args.json:
        _print_json({**plan.to_dict(), "device": device.__dict__})
    else:
        _print_rows([("Device", f"{device.count} x {device.name} ({device.precision})")] + plan_summary(plan))
        for warning in plan.warnings:
            print(f"Note: {warning}")
    return 0


# ---------------------------------------------------------------------------------------------
# evaluate


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a model on a text source in bits per byte")
    p.add_argument("model", help="a run folder (its final/ model), a final/ or checkpoint folder")
    p.add_argument("source", help="demo, a file or folder, or hub:ID[:CONFIG[:SPLIT]]")
    p.add_argument("--split", default="all", choices=["all", "eval", "train"],
                   help="score every document (default), or the source's held-out or training split")
    p.add_argument("--text-column", default="", help="the column holding the text (default: detected)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--json", action="store_true", help='print {"bits_per_byte", "nats_per_token", ...}')
    p.set_defaults(func=_run_evaluate)


def _run_evaluate(args) -> int:
    from clm_gui.data.sources import iter_documents
    from clm_gui.train.evaluation import evaluate_model

    data = DataConfig(source=args.source, text_column=args.text_column, streaming=True).check()
    score = evaluate_model(args.model, iter_documents(data, args.split), device=args.device)
    if args.json:
        _print_json(score.to_dict())
    else:
        _print_rows([("Bits per byte", f"{score.bits_per_byte:.4f}"),
                     ("Nats per token", f"{score.nats_per_token:.4f}"),
                     ("Scored", f"{score.tokens:,} tokens, {score.bytes:,.0f} bytes, {score.documents:,} documents")])
    return 0


# ---------------------------------------------------------------------------------------------
# quickstart


def _add_quickstart(sub) -> None:
    p = sub.add_parser("quickstart", help="accept every recommendation: profile, tokenizer, plan, train, score")
    p.add_argument("source", help="demo, a file or folder, or hub:ID[:CONFIG[:SPLIT]]")
    p.add_argument("--minutes", type=float, required=True, help="the time budget, preparation included")
    p.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu or cuda")
    p.add_argument("--runs-dir", type=Path, default=None, help="where the run is created (default ./runs)")
    p.add_argument("--plan-only", action="store_true",
                   help="profile the data and train the tokenizer the plan needs (kept in RUNS_DIR/.quickstart-"
                        "tokenizers for a later run), then print the choices and the configuration; no model")
    p.add_argument("--json", action="store_true", help="print the choices, the run and the held-out score as JSON")
    p.set_defaults(func=_run_quickstart)


def _run_quickstart(args) -> int:
    from clm_gui.jobs.quickstart import plan_quickstart, run_quickstart
    from clm_gui.machine.hardware import cpu_threads_in_this_process

    runs_dir = args.runs_dir or default_runs_dir()
    say = lambda message: print(message, file=sys.stderr)  # noqa: E731
    planned = plan_quickstart(args.source, args.minutes, args.device, runs_dir, say,
                              cpu_threads=cpu_threads_in_this_process()) if args.plan_only else None
    result = planned.to_dict() if planned else run_quickstart(args.source, args.minutes, args.device, runs_dir, say)
    if args.json:
        _print_json(result)
        return 0
    for choice in result["choices"]:
        print(f"{choice['step']}: {choice['value']}\n    {choice['plain']}\n    {choice['why']}")
    if planned:
        print(f"\nThe configuration (saved as a .yaml file, `train FILE.yaml` trains it):\n{planned.config.to_yaml()}")
    if "status" in result:
        print(f"Run: {result['run_dir']}\n{result['status']['state']}: {result['status']['message']}")
    if "held_out" in result:
        print(f"Held-out bits per byte of final/: {result['held_out']['bits_per_byte']:.4f}")
    return 0


# ---------------------------------------------------------------------------------------------


COMMANDS = [_add_app, _add_train, _add_generate, _add_export, _add_tokenizer, _add_profile, _add_hardware,
            _add_recommend, _add_evaluate, _add_quickstart]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m clm_gui", description="Train a causal LM from scratch.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"error: the configuration has problems:\n{exc}", file=sys.stderr)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
    return 2
