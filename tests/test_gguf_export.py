"""GGUF export: what the file holds (read back with the gguf package's reader), the Modelfile beside it,
the run's export for the Playground, the command line, and every refusal (tests/test_gguf_llama_cpp.py
runs the files in llama.cpp itself)."""

from __future__ import annotations

import errno
import json
import re
import subprocess
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from clm_gui.cli import main
from clm_gui.config import ModelConfig, TokenizerConfig
from clm_gui.errors import UserError
from clm_gui.model.architecture import build_model
from clm_gui.runs.folder import RunDir, new_run_dir
from clm_gui.runs.gguf_export import export_gguf, export_run_gguf
from clm_gui.runs.model_card import model_card_text
from clm_gui.tokenizer.training import train_tokenizer
from clm_gui.ui.file_guard import is_allowed_download
from tests.conftest import make_tiny_config

ROOT = Path(__file__).resolve().parents[1]

TEXTS = ["def f(x):\n    return x * 2  # 12345 café naïve 日本語\n\nA line of prose, with words."] * 40


def tokenizer(**settings):
    return train_tokenizer(TEXTS, TokenizerConfig(vocab_size=300, min_frequency=1, **settings))


def save_final(run: RunDir, family: str, tok, tie: bool = True) -> RunDir:
    """A run's final/ as the trainer writes it: the model (untrained: these tests read the file, not text)
    and its tokenizer."""
    cfg = ModelConfig(family=family, n_layer=2, n_head=2, n_embd=64, context_length=32, tie_embeddings=tie)
    model = build_model(cfg, len(tok), seed=0, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id)
    model.save_pretrained(run.final_dir)
    tok.save_pretrained(run.final_dir)
    return run


@pytest.fixture
def run_of(runs_root):
    return lambda family, tok=None, **kw: save_final(new_run_dir(runs_root, make_tiny_config()), family,
                                                      tok or tokenizer(), **kw)


def fields(path) -> tuple[dict, dict]:
    """(metadata by key, tensors by name) of a GGUF file."""
    reader = gguf.GGUFReader(path)
    meta = {}
    for key, field in reader.fields.items():
        if field.types and field.types[0] == gguf.GGUFValueType.ARRAY:
            meta[key] = [field.contents(i) for i in range(len(field.data))] if len(field.data) < 100_000 else None
        else:
            meta[key] = field.contents()
    return meta, {t.name: t for t in reader.tensors}


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_the_file_holds_the_model_and_its_whole_tokenizer(run_of, tmp_path, family):
    tok = tokenizer()
    run = run_of(family, tok)
    result = export_gguf(run.path, "f32", tmp_path / "m.gguf")
    meta, tensors = fields(result.path)
    spec = json.loads(tok.backend_tokenizer.to_str())
    assert meta["general.architecture"] == family and meta["general.name"] == run.id
    assert meta["tokenizer.ggml.model"] == "gpt2" and meta["tokenizer.ggml.pre"] == "gpt-2"
    tokens = meta["tokenizer.ggml.tokens"]
    assert len(tokens) == 320  # 300 padded to the model's 320 embedding rows
    assert all(tokens[i] == t for t, i in tok.get_vocab().items())
    assert tokens[300:] == [f"[PAD{i}]" for i in range(300, 320)]
    types = meta["tokenizer.ggml.token_type"]
    assert types[tok.eos_token_id] == gguf.TokenType.CONTROL and types[300] == gguf.TokenType.UNUSED
    assert types[tok.convert_tokens_to_ids("a")] == gguf.TokenType.NORMAL
    assert meta["tokenizer.ggml.merges"] == [" ".join(m) for m in spec["model"]["merges"]]
    assert meta["tokenizer.ggml.eos_token_id"] == tok.eos_token_id
    assert meta["tokenizer.ggml.add_bos_token"] is False  # the app never puts a token before a prompt
    assert meta[f"{family}.context_length"] == 32 and meta[f"{family}.block_count"] == 2
    assert result.bytes == result.path.stat().st_size
    assert "output.weight" not in tensors  # tied: llama.cpp reuses the token embedding


def test_gpt2_projections_are_transposed_and_vectors_stay_f32(run_of, tmp_path):
    run = run_of("gpt2")
    weights = load_file(run.final_dir / "model.safetensors")
    _, tensors = fields(export_gguf(run.path, "f32", tmp_path / "m.gguf").path)
    qkv = tensors["blk.0.attn_qkv.weight"]
    # numpy shape of GGUF data is ggml's shape reversed: (out, in), the transpose of Conv1D's (in, out)
    assert np.array_equal(qkv.data, weights["transformer.h.0.attn.c_attn.weight"].T.numpy())
    assert np.array_equal(tensors["position_embd.weight"].data, weights["transformer.wpe.weight"].numpy())


def test_llama_queries_and_keys_are_reordered_per_head_for_llama_cpp_rotation(run_of, tmp_path):
    run = run_of("llama")
    q = load_file(run.final_dir / "model.safetensors")["model.layers.0.self_attn.q_proj.weight"].numpy()
    _, tensors = fields(export_gguf(run.path, "f32", tmp_path / "m.gguf").path)
    head_dim = 32
    # rotate_half pairs row i with row i + head_dim/2 of a head; llama.cpp pairs rows 2i and 2i+1
    expected = np.concatenate([np.stack([h[:head_dim // 2], h[head_dim // 2:]], axis=1).reshape(head_dim, -1)
                               for h in np.split(q, 2)])
    assert np.array_equal(tensors["blk.0.attn_q.weight"].data, expected)


def test_an_untied_output_head_is_written(run_of, tmp_path):
    run = run_of("llama", tie=False)
    head = load_file(run.final_dir / "model.safetensors")["lm_head.weight"].numpy()
    _, tensors = fields(export_gguf(run.path, "f32", tmp_path / "m.gguf").path)
    assert np.array_equal(tensors["output.weight"].data, head)


@pytest.mark.parametrize("outtype,matrix_type", [("f16", gguf.GGMLQuantizationType.F16),
                                                 ("bf16", gguf.GGMLQuantizationType.BF16),
                                                 ("q8_0", gguf.GGMLQuantizationType.Q8_0)])
def test_outtype_sets_the_matrices_type_and_dequantizes_close_to_the_weights(run_of, tmp_path, outtype, matrix_type):
    run = run_of("llama")
    up = load_file(run.final_dir / "model.safetensors")["model.layers.0.mlp.up_proj.weight"].numpy()
    result = export_gguf(run.path, outtype, tmp_path / "m.gguf")
    meta, tensors = fields(result.path)
    assert meta["general.file_type"] == {"f16": 1, "bf16": 32, "q8_0": 7}[outtype]
    t = tensors["blk.0.ffn_up.weight"]
    assert t.tensor_type == matrix_type
    assert tensors["blk.0.attn_norm.weight"].tensor_type == gguf.GGMLQuantizationType.F32
    restored = gguf.quants.dequantize(t.data, t.tensor_type).reshape(up.shape)
    # f16 keeps 11 significant bits, bf16 8, q8_0 about 8 (a scale per 32 values)
    assert np.abs(restored - up).max() <= np.abs(up).max() * {"f16": 1e-3, "bf16": 8e-3, "q8_0": 8e-3}[outtype]


def test_q8_0_is_about_half_the_size_of_f16(run_of, tmp_path):
    run = run_of("gpt2")
    f16 = export_gguf(run.path, "f16", tmp_path / "a.gguf").bytes
    assert export_gguf(run.path, "q8_0", tmp_path / "b.gguf").bytes < 0.65 * f16


def test_an_ollama_modelfile_is_written_beside_the_file(run_of, tmp_path):
    result = export_gguf(run_of("gpt2").path, "f16", tmp_path / "tiny.gguf")
    assert result.modelfile == tmp_path / "tiny.Modelfile"
    text = result.modelfile.read_text()
    assert "FROM ./tiny.gguf\n" in text
    assert 'TEMPLATE """{{ .Prompt }}"""\n' in text  # plain continuation: no chat turns
    assert 'PARAMETER stop "<|endoftext|>"\n' in text
    assert "PARAMETER num_ctx 32\n" in text


def test_the_playground_export_has_an_unguessable_name_in_the_run_and_replaces_the_last(run_of):
    run = run_of("gpt2")
    seen = []
    first = export_run_gguf(run, "q8_0", on_progress=lambda done, total: seen.append((done, total)))
    assert first.path.parent == run.path / "exports"
    assert re.fullmatch(rf"{re.escape(run.id)}-q8_0-[A-Za-z0-9_-]{{22}}\.gguf", first.path.name)
    assert is_allowed_download(str(first.path), run.path.parent)
    assert seen[-1] == (seen[-1][1], seen[-1][1]) and len(seen) > 10  # one report per tensor
    second = export_run_gguf(run, "f16")
    left = sorted(p.name for p in (run.path / "exports").iterdir())
    assert left == sorted([second.path.name, second.modelfile.name])


def test_the_command_line_exports_and_prints_json(run_of, tmp_path, capsys):
    run = run_of("llama")
    out = tmp_path / "cli.gguf"
    assert main(["export", str(run.path), "--format", "gguf", "--outtype", "q8_0", "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["path"] == str(out) and printed["bytes"] == out.stat().st_size and printed["outtype"] == "q8_0"


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("settings,message", [
    ({"algorithm": "wordpiece"}, "WordPiece tokenizer, and llama.cpp splits words"),
    ({"algorithm": "unigram"}, "Unigram tokenizer"),
    ({"lowercase": True}, "lowercasing or Unicode NFKC"),
])
def test_tokenizers_llama_cpp_would_read_differently_are_refused_with_what_to_choose(
        run_of, tmp_path, capsys, settings, message):
    run = run_of("gpt2", tokenizer(**settings))
    with pytest.raises(UserError, match=message) as refused:
        export_gguf(run.path, "f16", tmp_path / "m.gguf")
    assert "tokenizer.algorithm: bpe" in str(refused.value) and "zip" in str(refused.value)
    assert not list(tmp_path.glob("*.gguf"))
    assert main(["export", str(run.path), "--format", "gguf", "--out", str(tmp_path / "m.gguf")]) == 2
    assert message.split(",")[0] in capsys.readouterr().err


def test_the_model_card_says_how_to_run_the_export_or_why_there_is_none(run_of):
    run = run_of("gpt2")
    card = model_card_text(run, run.load_config())
    assert f"llama-completion -m {run.id}-f16.gguf" in card and f"-f {run.id}-f16.Modelfile" in card
    refused = model_card_text(run, run.load_config(), gguf_blocker="it is a WordPiece tokenizer")
    assert "Not possible for this model: it is a WordPiece tokenizer" in refused and "ollama create" not in refused


def test_a_run_without_final_is_refused(runs_root, tmp_path):
    run = new_run_dir(runs_root, make_tiny_config())
    with pytest.raises(UserError, match="no final model yet: let it finish"):
        export_gguf(run.path, "f16", tmp_path / "m.gguf")


def test_a_checkpoint_folder_is_refused(run_of, tmp_path):
    checkpoint = run_of("gpt2").checkpoint_dir(10)
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text("{}")
    (checkpoint / "config.json").write_text("{}")
    with pytest.raises(UserError, match="is a training checkpoint, not a finished model.*run folder"):
        export_gguf(checkpoint, "f16", tmp_path / "m.gguf")


def test_a_model_family_the_exporter_does_not_know_is_refused(run_of, tmp_path):
    run = run_of("gpt2")
    config = run.final_dir / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "model_type": "bert"}))
    with pytest.raises(UserError, match="family 'bert' cannot be exported.*gpt2 and llama"):
        export_gguf(run.path, "f16", tmp_path / "m.gguf")


def test_a_config_without_a_setting_llama_cpp_needs_is_refused(run_of, tmp_path):
    run = run_of("llama")
    config = run.final_dir / "config.json"
    config.write_text(json.dumps({k: v for k, v in json.loads(config.read_text()).items() if k != "rms_norm_eps"}))
    with pytest.raises(UserError, match="lacks the setting 'rms_norm_eps': it is not a complete model"):
        export_gguf(run.path, "f16", tmp_path / "m.gguf")
    assert list(tmp_path.glob("*.gguf")) == list(tmp_path.glob(".tmp-*")) == []


def test_an_unknown_outtype_and_a_wrong_suffix_are_refused(run_of, tmp_path):
    run = run_of("gpt2")
    with pytest.raises(UserError, match="'q4' is not one of f32, f16, bf16, q8_0"):
        export_gguf(run.path, "q4", tmp_path / "m.gguf")
    with pytest.raises(UserError, match="must end in .gguf"):
        export_gguf(run.path, "f16", tmp_path / "m.bin")


def test_out_is_made_where_asked_or_refused_when_it_cannot_be_written(run_of, tmp_path):
    run = run_of("gpt2")
    assert export_gguf(run.path, "f16", tmp_path / "new" / "folder" / "m.gguf").path.is_file()
    (tmp_path / "a-file").write_text("")
    with pytest.raises(UserError, match="Writing .* failed: .*Choose a writable --out"):
        export_gguf(run.path, "f16", tmp_path / "a-file" / "m.gguf")
    (run.final_dir / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="config.json cannot be read"):
        export_gguf(run.path, "f16", tmp_path / "m.gguf")


def test_a_full_disk_removes_the_partial_file_and_says_so(run_of, tmp_path, monkeypatch):
    run = run_of("gpt2")
    written = []

    def fill_up(self, tensor, *args):
        if written:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(tensor.nbytes)
        original(self, tensor, *args)

    original = gguf.GGUFWriter.write_tensor_data
    monkeypatch.setattr(gguf.GGUFWriter, "write_tensor_data", fill_up)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UserError, match="the disk is full.*partial file was removed.*Free some space"):
        export_gguf(run.path, "f16", out / "m.gguf")
    assert written and list(out.iterdir()) == []  # no .tmp- file, no Modelfile


def test_a_bfloat16_model_exports_like_its_float32_weights(run_of, tmp_path):
    """Models saved in bf16 (a GPU run's dtype) are read as float32 before conversion."""
    run = run_of("gpt2")
    weights = load_file(run.final_dir / "model.safetensors")
    from safetensors.torch import save_file

    save_file({k: v.to(torch.bfloat16) for k, v in weights.items()}, run.final_dir / "model.safetensors")
    _, tensors = fields(export_gguf(run.path, "f32", tmp_path / "m.gguf").path)
    assert np.array_equal(tensors["token_embd.weight"].data,
                          weights["transformer.wte.weight"].to(torch.bfloat16).float().numpy())


def test_every_command_line_command_works_without_the_gguf_package():
    # Building the parser once imported gguf for --outtype's choices: `train` failed where gguf was missing.
    code = ("import sys; sys.modules['gguf'] = None; from clm_gui.cli import build_parser; "
            "args = build_parser().parse_args(['export', 'run', '--format', 'gguf']); print(args.outtype)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "f16"
