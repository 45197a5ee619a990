"""Tokenize-and-pack: end-of-text between documents, exact windows, causal LM labels, disjoint ranks."""

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import DataCollatorForLanguageModeling, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from clm_gui.data import packing
from clm_gui.data.packing import (CachedWindows, StreamingWindows, build_token_cache, encode_batches, encode_documents,
                                  pack_windows, read_token_cache)
from clm_gui.train.loss import CausalLMLoss


def char_tokenizer() -> PreTrainedTokenizerFast:
    """One token per character of 'abcdefgh ', plus <eos>=9: ids are easy to read in assertions."""
    vocab = {c: i for i, c in enumerate("abcdefgh ")} | {"<eos>": 9}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<eos>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<eos>")


def test_each_document_ends_with_the_end_of_text_token():
    chunks = list(encode_documents(["ab", "c", "hh"], char_tokenizer(), eos_id=9))
    assert np.concatenate(chunks).tolist() == [0, 1, 9, 2, 9, 7, 7, 9]


def test_a_tokenizer_call_is_bounded_in_characters_not_only_in_documents(monkeypatch):
    # One text file is read in 1 MiB pieces: 256 of them made one 256 MiB call (#29).
    monkeypatch.setattr(packing, "ENCODE_BATCH_CHARS", 10)
    pulled = []

    def pieces():
        for i in range(8):
            pulled.append(i)
            yield "abcd"

    batches = encode_batches(pieces(), char_tokenizer(), eos_id=9)
    first = next(batches)
    assert first.texts == ["abcd"] * 3 and len(pulled) == 3  # the piece that reached 10 characters ends the call
    assert [len(i) for i in first.ids] == [5, 5, 5]
    assert sum(len(batch.texts) for batch in batches) == 5  # nothing lost


def test_a_long_document_is_encoded_in_slices_to_the_same_tokens(monkeypatch, tmp_path):
    # One 40 MB line was one tokenizer call of 6.5 GB (#29): it goes in slices cut before a space, which
    # byte-level BPE splits into the words the whole would have.
    from clm_gui.config import TokenizerConfig
    from clm_gui.tokenizer.training import train_tokenizer

    text = " ".join(f"word{i % 97}  and {i}!" for i in range(3000))
    tok = train_tokenizer(iter([text]), TokenizerConfig(vocab_size=300, min_frequency=1))
    eos = tok.eos_token_id
    whole = tok.backend_tokenizer.encode(text, add_special_tokens=False).ids + [eos]
    monkeypatch.setattr(packing, "ENCODE_SLICE_CHARS", 100)
    monkeypatch.setattr(packing, "ENCODE_BATCH_CHARS", 1000)
    batches = list(encode_batches([text, "word1"], tok, eos))
    parts = [part for batch in batches for part in batch.texts]
    assert len(batches) > 10 and max(len(p) for p in parts) <= 100 and "".join(parts) == text + "word1"
    assert [end for batch in batches for end in batch.ends].count(True) == 2  # one end per document
    assert np.concatenate(list(encode_documents([text], tok, eos))).tolist() == whole


def test_windows_are_exact_and_the_tail_is_dropped():
    chunks = [np.arange(5), np.arange(5, 12)]
    windows = [w.tolist() for w in pack_windows(chunks, 4)]
    assert windows == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert [w.tolist() for w in pack_windows([np.arange(7)], 4)] == [[0, 1, 2, 3]]


def test_loss_equals_transformers_loss_with_collator_labels():
    torch.manual_seed(0)
    lm = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=16, n_embd=32, n_layer=1, n_head=2)).eval()
    ids = torch.randint(0, 64, (3, 16))
    tokenizer = char_tokenizer()
    batch = DataCollatorForLanguageModeling(tokenizer, mlm=False)([{"input_ids": row} for row in ids])
    expected = lm(input_ids=ids, labels=batch["labels"]).loss
    assert torch.equal(batch["labels"], ids)  # packed windows have no padding: labels are the inputs
    assert torch.allclose(CausalLMLoss(lm)(ids), expected, atol=1e-6)


def test_token_cache_is_built_once_and_reused(tmp_path):
    tok = char_tokenizer()
    path = build_token_cache(["abc", "de"], tok, 9, tmp_path / "t.bin")
    assert read_token_cache(path).tolist() == [0, 1, 2, 9, 3, 4, 9]
    again = build_token_cache(iter(()), tok, 9, path)  # a finished cache is not rebuilt
    assert read_token_cache(again).tolist() == [0, 1, 2, 9, 3, 4, 9]
    assert not list(tmp_path.glob(".tmp-*"))


def test_ranks_draw_disjoint_windows_of_one_cut_and_resume_where_they_stopped():
    tokens = np.arange(400, dtype=np.uint16)
    ranks = [CachedWindows(tokens, 10, 4, seed=3, rank=rank, world_size=2) for rank in range(2)]
    starts = [set(r.window_starts().tolist()) for r in ranks]
    assert starts[0].isdisjoint(starts[1]) and len(starts[0]) == len(starts[1]) == ranks[0].windows_per_rank == 19
    assert {s % 10 for s in starts[0] | starts[1]} == {ranks[0].shift}  # one cut, shared by both ranks
    assert int(ranks[0].next_batch()[0, 0]) in starts[0]

    a = CachedWindows(tokens, 10, 4, seed=3)
    for _ in range(13):  # into the second epoch
        a.next_batch()
    b = CachedWindows(tokens, 10, 4, seed=3)
    b.load_state_dict(a.state_dict())
    assert a.epoch == b.epoch == 1 and torch.equal(a.next_batch(), b.next_batch())


def test_every_epoch_cuts_the_windows_at_a_new_offset_from_the_seed():
    tokens = np.arange(5000, dtype=np.uint16)
    shifts = []
    for epoch in range(8):
        windows = CachedWindows(tokens, 64, 8, seed=7)
        windows.load_state_dict({"epoch": epoch, "position": 0})
        again = CachedWindows(tokens, 64, 8, seed=7)
        again.load_state_dict({"epoch": epoch, "position": 0})
        assert np.array_equal(windows.window_starts(), again.window_starts())  # the same for the same seed
        assert len(windows.window_starts()) == windows.windows_per_rank
        shifts.append(windows.shift)
    assert len(set(shifts)) >= 6 and all(0 <= s < 64 for s in shifts)
    assert CachedWindows(tokens, 64, 8, seed=8).shift != CachedWindows(tokens, 64, 8, seed=7).shift or \
        not np.array_equal(CachedWindows(tokens, 64, 8, seed=8).window_starts(),
                           CachedWindows(tokens, 64, 8, seed=7).window_starts())


def test_a_file_of_under_two_windows_is_not_shifted():
    windows = CachedWindows(np.arange(15, dtype=np.uint16), 10, 1, seed=0)
    assert windows.shift == 0 and windows.windows_per_rank == 1


def test_streaming_windows_resume_skips_what_was_trained_on():
    docs = ["abcdefgh" * 3] * 20
    make = lambda: iter(docs)  # noqa: E731
    first = StreamingWindows(make, char_tokenizer(), 9, context_length=8, batch_size=2)
    batches = [first.next_batch() for _ in range(4)]
    resumed = StreamingWindows(make, char_tokenizer(), 9, context_length=8, batch_size=2)
    resumed.load_state_dict({"position": 4})
    assert torch.equal(resumed.next_batch(), batches[2])
    first.close(), resumed.close()


def test_closing_streaming_windows_stops_tokenizing():
    # The producer went on tokenizing to the corpus's end after the run had stopped, beside its evaluation and
    # final/ (30 s more for a 0.3 GB journey, #29). Here the corpus never ends.
    def endless():
        while True:
            yield "abc defgh " * 10

    windows = StreamingWindows(endless, char_tokenizer(), 9, context_length=8, batch_size=2, prefetch_batches=1)
    assert windows.next_batch().shape == (2, 8)
    windows.close()
    assert not windows._thread.is_alive()
