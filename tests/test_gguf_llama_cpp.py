"""Exported GGUF files checked in llama.cpp itself (llama-cpp-python, built from its source distribution by
requirements-dev.txt): a small GPT-2 and a small Llama, trained here by the app's own trainer until they
have learned their text, must tokenise like the app and generate the same tokens as transformers.

Greedy agreement only means something where the next token is clear: an untrained model's near-uniform
distribution lets a rounding difference flip the argmax, and agreement on it would prove little either way.
So the models memorise a few passages, and each test first asserts that transformers is confident on
them.
"""

from __future__ import annotations

import random
from pathlib import Path

import llama_cpp
import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from clm_gui.runs.folder import new_run_dir
from clm_gui.runs.gguf_export import export_gguf
from clm_gui.train.trainer import train
from tests.fast_runs import fast_config

PASSAGES = [
    "ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun.",
    "def area(r):\n    return 3.14159 * r ** 2  # 2024 café\n\n\tprint(area(10))",
    "Order 7731: 12 naïve crêpes, 3 Ω-filters — total 4,096 ¥. Déjà vu! 日本語のテキスト 😀\r\n",
    "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo?\nDeny thy father and refuse thy name.",
]
PROMPTS = ["ROMEO:\nBut soft", "def area(r):\n", "Order 7731: 12"]
# Spaces, tabs, newlines and \r\n in runs; digit runs of every length; contractions (GPT-2's rule knows
# lower-case ones only); punctuation runs; accents, CJK, Cyrillic, emoji with joiners, a trailing space.
PROBE = ("Hello  world!\n\n\tdef f(x):\n    return x*2  # 3 33 333 3333 33333 3.14 1,000\r\n"
         "I've been 'told he's there, 'RE you sure? We'Ve a'lL ------====== \"\"\"...!!!???\n"
         "naïve café Ωmega — 日本語のテキスト 我想在apple工作 нещо на Български 🦙🦙 😶\u200d🌫️ e\u0301 \u00a0 end ")
GREEDY_TOKENS = 32


def corpus(path: Path) -> Path:
    rng = random.Random(0)
    documents = [rng.choice(PASSAGES) for _ in range(600)]
    path.write_text("\n\n".join(documents) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def trained(request, tmp_path_factory):
    """(run, transformers model, tokenizer) of a small model that has memorised PASSAGES."""
    root = tmp_path_factory.mktemp(request.param)
    cfg = fast_config(corpus(root / "passages.txt"), max_steps=300, learning_rate=1e-2, warmup_steps=10,
                      micro_batch_size=8, log_interval=50, save_interval=0)
    cfg.tokenizer.vocab_size = 512
    m = cfg.model
    m.family, m.n_layer, m.n_embd, m.context_length = request.param, 2, 64, 96
    run = new_run_dir(root / "runs", cfg.check())
    assert train(cfg, run)["state"] == "finished"
    model = AutoModelForCausalLM.from_pretrained(run.final_dir).eval()
    return run, model, AutoTokenizer.from_pretrained(run.final_dir)


def load(path: Path) -> llama_cpp.Llama:
    return llama_cpp.Llama(str(path), n_ctx=96, logits_all=True, verbose=False)


def hf_greedy(model, ids: list[int]) -> list[int]:
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=GREEDY_TOKENS, do_sample=False,
                             eos_token_id=None, pad_token_id=model.config.pad_token_id)
    return out[0, len(ids):].tolist()


def llama_cpp_greedy(llm: llama_cpp.Llama, ids: list[int]) -> list[int]:
    llm.reset()
    llm.eval(ids)
    out = []
    for _ in range(GREEDY_TOKENS):
        out.append(int(np.argmax(llm.scores[llm.n_tokens - 1])))
        llm.eval(out[-1:])
    return out


def probabilities(logits) -> np.ndarray:
    return torch.softmax(torch.as_tensor(np.asarray(logits), dtype=torch.float64), dim=-1).numpy()


def test_llama_cpp_tokenises_text_exactly_as_the_app_tokenizer(trained, tmp_path):
    run, _, tok = trained
    llm = load(export_gguf(run.path, "f32", tmp_path / "m.gguf").path)
    try:
        for text in [PROBE, *PASSAGES]:
            ids = tok(text, add_special_tokens=False)["input_ids"]
            assert llm.tokenize(text.encode("utf-8"), add_bos=False, special=False) == ids, text
            assert llm.detokenize(ids).decode("utf-8") == text
    finally:
        llm.close()


def test_greedy_generation_gives_the_same_tokens_in_llama_cpp_as_in_transformers(trained, tmp_path):
    run, model, tok = trained
    llm = load(export_gguf(run.path, "f32", tmp_path / "m.gguf").path)
    try:
        for prompt in PROMPTS:
            ids = tok(prompt, add_special_tokens=False)["input_ids"]
            expected = hf_greedy(model, ids)
            with torch.no_grad():
                chosen = probabilities(model(torch.tensor([ids + expected])).logits[0, len(ids) - 1:-1])
            assert np.mean(chosen.max(axis=-1)) > 0.7, "the model is not confident: agreement would mean little"
            assert llama_cpp_greedy(llm, ids) == expected, prompt
    finally:
        llm.close()


# KL(transformers || llama.cpp) of the next-token distribution, at every position of the three prompts and
# their greedy continuations. f16 rounds each weight by at most 2^-11 of itself, which moves a logit by
# about 1e-3 and the KL by about its square: measured at most 2e-7 (2026-12-06, both families), bound 1e-4.
# q8_0 keeps each weight to 1/254 of its block of 32's largest, which moves logits by about 1e-2: measured
# at most 2.3e-4, bound 2e-3 (llama.cpp's perplexity tool reports KL of this order for q8_0 on large
# models). Both bounds leave ten times headroom or more, yet a wrong layout (a transposed or misordered
# matrix) gives KL of order 1: without Llama's query reordering the f16 test fails at once. q8_0 may
# flip an argmax where two tokens are nearly tied, so only f16 must keep every argmax.
@pytest.mark.parametrize("outtype,max_kl", [("f16", 1e-4), ("q8_0", 2e-3)])
def test_f16_and_q8_0_predict_the_same_next_token_distribution(trained, tmp_path, outtype, max_kl):
    run, model, tok = trained
    llm = load(export_gguf(run.path, outtype, tmp_path / "m.gguf").path)
    try:
        for prompt in PROMPTS:
            ids = tok(prompt, add_special_tokens=False)["input_ids"]
            sequence = ids + hf_greedy(model, ids)
            with torch.no_grad():
                p = probabilities(model(torch.tensor([sequence])).logits[0])
            llm.reset()
            llm.eval(sequence)
            q = probabilities(llm.scores[:len(sequence)])
            kl = (p * (np.log(p) - np.log(q))).sum(axis=-1)
            assert kl.max() < max_kl, (prompt, kl.max())
            assert np.array_equal(p.argmax(-1), q.argmax(-1)) or outtype == "q8_0"
    finally:
        llm.close()
