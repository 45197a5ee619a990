"""Generated text shows the line breaks the data has: the decoding path of samples and the Playground keeps
every newline (and blank line) and drops only the end-of-text token."""

from types import SimpleNamespace

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from clm_gui.config import TokenizerConfig
from clm_gui.model.generate import SamplingSettings, generate, generate_batch, generate_stream
from clm_gui.tokenizer.training import train_tokenizer
from tests.fast_runs import write_play

CONTINUATION = "\nJULIET:\nGood night, good night!\n\nROMEO:"


class ScriptedModel:
    """Stands in for a trained model: "generates" fixed token ids, through the same calls and streamer."""

    def __init__(self, ids: list[int]):
        self.ids = torch.tensor([ids])
        self.config = SimpleNamespace(n_positions=256)
        self.device = torch.device("cpu")

    def generate(self, input_ids, streamer=None, **kwargs):
        if streamer is not None:
            streamer.put(input_ids.cpu())  # the prompt first, as transformers does (the streamer skips it)
            for token in self.ids[0]:
                streamer.put(token[None])
            streamer.end()
        return torch.cat([input_ids, self.ids], dim=1)


def test_line_breaks_survive_decoding_and_the_end_of_text_token_does_not_show(tmp_path):
    text = write_play(tmp_path / "play.txt", speeches=300).read_text()
    tok = train_tokenizer([text], TokenizerConfig(vocab_size=400, min_frequency=1))
    ids = tok(CONTINUATION, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] + \
        tok("Parting", add_special_tokens=False)["input_ids"]
    model, settings = ScriptedModel(ids), SamplingSettings(max_new_tokens=len(ids), seed=0)
    expected = "NURSE:" + CONTINUATION + "Parting"
    assert generate(model, tok, "NURSE:", settings) == expected  # samples during training
    assert list(generate_stream(model, tok, "NURSE:", settings))[-1] == expected  # the Playground


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_prompts_generated_together_continue_as_each_would_alone(tmp_path, family):
    """The training samples generate all prompts in one left-padded batch: the padding changes nothing."""
    text = write_play(tmp_path / "play.txt", speeches=100).read_text()
    tok = train_tokenizer([text], TokenizerConfig(vocab_size=300, min_frequency=1))
    torch.manual_seed(0)
    if family == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(vocab_size=320, n_positions=64, n_embd=32, n_layer=2, n_head=2))
    else:
        model = LlamaForCausalLM(LlamaConfig(vocab_size=320, max_position_embeddings=64, hidden_size=32,
                                             intermediate_size=64, num_hidden_layers=2, num_attention_heads=2))
    settings = SamplingSettings(max_new_tokens=12, top_k=1, seed=0)  # top-k 1: the likeliest token, always
    prompts = ["ROMEO:", "JULIET:\nGood night, good night! Parting", "N"]  # of different token lengths
    together = generate_batch(model.eval(), tok, prompts, settings)
    assert together == [generate(model, tok, prompt, settings) for prompt in prompts]
    assert all(text.startswith(prompt) and len(text) > len(prompt) for prompt, text in zip(prompts, together))


@pytest.mark.parametrize("options, expected", [
    ([], SamplingSettings()),
    (["--temperature", "0.5", "--top-k", "0", "--seed", "3"], SamplingSettings(temperature=0.5, top_k=0, seed=3)),
])
def test_the_command_line_samples_with_the_playgrounds_defaults_unless_told_otherwise(monkeypatch, tmp_path,
                                                                                       options, expected):
    from clm_gui import cli
    from clm_gui.model import generate as generate_lib

    used = []
    monkeypatch.setattr(generate_lib, "load_for_generation", lambda path: (None, None))
    monkeypatch.setattr(generate_lib, "generate", lambda model, tok, prompt, settings: used.append(settings) or "")
    assert cli.main(["generate", str(tmp_path), "--prompt", "x", *options]) == 0
    assert used == [expected]
