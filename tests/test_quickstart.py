"""The default journey, headless: every recommendation accepted, each choice said, the result scored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clm_gui import cli
from clm_gui.config import DataConfig, config_from_yaml
from clm_gui.data.prompts import prompts_from
from clm_gui.data import budget
from clm_gui.errors import UserError
from clm_gui.jobs import quickstart
from clm_gui.jobs.quickstart import check_minutes, eval_fraction_for, run_name
from clm_gui.machine import hardware
from clm_gui.runs.folder import list_runs
from clm_gui.tokenizer.recommendation import (BYTE_LEVEL_MIN_PASSES, COMPUTE_LIMITED_MIN_VOCAB, byte_level_vocab,
                                              vocab_for_corpus)
from tests.fast_runs import write_corpus


@pytest.fixture(autouse=True)
def steady_cpu(monkeypatch):
    """The planner's CPU speed, fixed: what it chooses must not depend on how busy this machine is."""
    monkeypatch.setattr(hardware, "cpu_matmul_flops", lambda threads: 40e9)


def test_a_plan_names_every_choice_and_sizes_everything_to_the_small_corpus(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "notes.txt")
    code = cli.main(["quickstart", str(corpus), "--minutes", "10", "--device", "cpu", "--runs-dir",
                     str(tmp_path / "runs"), "--plan-only", "--json"])
    assert code == 0
    plan = json.loads(capsys.readouterr().out)
    assert [c["step"] for c in plan["choices"]] == ["Data", "Tokenizer", "Model", "Training"]
    assert all(c["why"] for c in plan["choices"])
    # Each choice in words for a non-engineer too (#26, item 11): none of the engineer's terms.
    plain = " ".join(c["plain"] for c in plan["choices"])
    assert all(c["plain"] for c in plan["choices"]) and "one letter (byte) at a time" in plain
    assert not any(term in plain.lower() for term in ("bpe", "compute-optimal", "per parameter", "epoch"))
    cfg = plan["config"]
    assert cfg["tokenizer"]["vocab_size"] == byte_level_vocab()  # 10 minutes read ~100 KB many times: bytes
    assert cfg["train"]["ema_decay"] > 0 and cfg["train"]["max_tokens"] == 0  # averaged, no pass cap
    assert cfg["train"]["weight_decay"] > 0.1 and plan["plan"]["epochs"] > 4  # repeated data, regularised
    # a CPU plan takes no dropout, and says so in words rather than "dropout 0"
    assert cfg["model"]["dropout"] == 0 and "no dropout" in plan["choices"][2]["value"]
    assert "dropout 0 " not in json.dumps(plan["choices"])
    assert cfg["train"]["max_minutes"] <= 10 and cfg["train"]["keep"] == "best"
    assert cfg["name"] == "notes-10min"  # named after its data and budget
    assert cfg["data"]["eval_fraction"] == eval_fraction_for(corpus.stat().st_size) > 0.02
    words = set(corpus.read_text().split())
    assert cfg["train"]["sample_prompts"] and all(set(p.split()) <= words for p in cfg["train"]["sample_prompts"])


@pytest.mark.slow
def test_quickstart_trains_within_its_budget_and_scores_final_on_the_held_out_text(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "notes.txt")
    code = cli.main(["quickstart", str(corpus), "--minutes", "0.4", "--device", "cpu", "--runs-dir",
                     str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0, out
    # 24 s: too little compute for bytes, so merges, at least COMPUTE_LIMITED_MIN_VOCAB
    assert f"Tokenizer: new bpe, {COMPUTE_LIMITED_MIN_VOCAB:,} tokens" in out and "Model: " in out
    assert "finished:" in out and "final/ holds" in out
    bpb = float(out.rsplit("Held-out bits per byte of final/: ", 1)[1].split()[0])
    assert 0 < bpb < 8


def test_sample_prompts_are_the_opening_words_of_held_out_lines():
    assert prompts_from(["ROMEO: But soft\nJULIET: Ay me\n\nROMEO: She speaks\nNURSE: Madam"]) == \
        ["ROMEO: But", "JULIET: Ay", "ROMEO: She"]
    assert prompts_from([""]) == ["\n"]


def test_a_small_corpus_holds_out_enough_text_to_choose_the_best_model():
    assert eval_fraction_for(1e6) == 0.05
    assert eval_fraction_for(100e6) == 0.02
    assert eval_fraction_for(10e3) == 0.1


def test_the_vocabulary_follows_the_compute_per_byte_as_well_as_the_corpus_size():
    assert vocab_for_corpus(1e6, byte_passes=BYTE_LEVEL_MIN_PASSES) == byte_level_vocab() == 258
    # little compute per byte: merges, at least COMPUTE_LIMITED_MIN_VOCAB (above the corpus size's 1024)
    assert vocab_for_corpus(1e6, byte_passes=BYTE_LEVEL_MIN_PASSES - 1) == COMPUTE_LIMITED_MIN_VOCAB == 2048
    assert vocab_for_corpus(20e6, byte_passes=BYTE_LEVEL_MIN_PASSES - 1) == 4096  # the corpus size's, when larger
    assert vocab_for_corpus(50e6, byte_passes=2) == 8192
    assert vocab_for_corpus(1e6) == 1024  # no budget known: by size alone


def test_a_plan_only_trains_the_tokenizer_it_needs_and_no_model_and_prints_the_configuration(tmp_path, capsys):
    corpus, runs = write_corpus(tmp_path / "notes.txt"), tmp_path / "runs"
    code = cli.main(["quickstart", str(corpus), "--minutes", "0.4", "--device", "cpu", "--runs-dir", str(runs),
                     "--plan-only"])
    out = capsys.readouterr().out
    assert code == 0, out
    printed = config_from_yaml(out.split("`train FILE.yaml` trains it):\n", 1)[1])
    tokenizer = Path(printed.tokenizer.path)
    assert tokenizer.parent == runs / ".quickstart-tokenizers" and any(tokenizer.iterdir())  # trained and kept
    assert list_runs(runs) == []  # no model
    with pytest.raises(SystemExit):
        cli.main(["quickstart", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert "train the tokenizer the plan needs" in said and "no model" in said


@pytest.mark.parametrize("matmul_flops, minutes, decay, said", [
    (4e9, "6", 0.1, "the usual weight decay 0.1 (a stronger one pays only where the model would memorise"),
    (40e9, "30", 3.0, "weight decay 3 (a strong pull towards simple weights"),
])
def test_the_plan_calls_the_weight_decay_strong_only_when_it_is(tmp_path, capsys, monkeypatch, matmul_flops, minutes,
                                                                   decay, said):
    # Regression: a repeating plan with the usual 0.1 was explained as "a strong pull towards simple weights".
    monkeypatch.setattr(hardware, "cpu_matmul_flops", lambda threads: matmul_flops)
    corpus = write_corpus(tmp_path / "notes.txt")
    assert cli.main(["quickstart", str(corpus), "--minutes", minutes, "--device", "cpu",
                     "--runs-dir", str(tmp_path / "runs"), "--plan-only", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["config"]["train"]["weight_decay"] == decay and plan["plan"]["epochs"] > 4  # repeats its data
    training = next(c for c in plan["choices"] if c["step"] == "Training")
    assert said in training["why"] and ("strong pull" in training["why"]) == (decay > 0.1)
    assert plan["config"]["train"]["optimizer"] == "adamw" and "Muon" not in training["why"]  # it would memorise


def test_a_cpu_plan_for_more_text_than_its_model_can_memorise_trains_with_muon_and_says_so(tmp_path, capsys,
                                                                                          monkeypatch):
    monkeypatch.setattr(hardware, "cpu_matmul_flops", lambda threads: 4e9)  # 2 slow cores: the smallest model
    corpus = write_corpus(tmp_path / "notes.txt", paragraphs=8_000)  # 2 MB: more tokens than parameters
    assert cli.main(["quickstart", str(corpus), "--minutes", "6", "--device", "cpu",
                     "--runs-dir", str(tmp_path / "runs"), "--plan-only", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["config"]["train"]["optimizer"] == "muon"
    training = next(c for c in plan["choices"] if c["step"] == "Training")
    assert "Muon and AdamW" in training["value"] and "so Muon trains its blocks' matrices" in training["why"]


def test_a_time_budget_is_checked_in_words():
    assert check_minutes(0.1) == 0.1 and check_minutes(5) == 5.0
    with pytest.raises(UserError, match=r"Type a time budget in minutes \(at least 0.1\)"):
        check_minutes(None)
    for bad, shown in ((-2, "-2"), (0.05, "0.05"), (float("nan"), "nan")):
        with pytest.raises(UserError, match=rf"must be at least 0.1 minutes \(it is {shown}\)"):
            check_minutes(bad)


def test_a_quick_start_run_is_named_after_its_data_and_budget(tmp_path):
    upload = tmp_path / "0123abcd"
    write_corpus(upload / "romeo.txt")
    assert run_name(DataConfig(source=str(upload)), 5) == "romeo-5min"  # an upload: a folder of one file
    write_corpus(upload / "juliet.txt")
    assert run_name(DataConfig(source=str(upload)), 0.5) in ("juliet-and-1-more-0.5min", "romeo-and-1-more-0.5min")
    assert run_name(DataConfig(source="demo"), 3) == "demo-3min"
    assert run_name(DataConfig(source="hub:someone/tiny_stories:default:train"), 60) == "tiny_stories-60min"


def test_the_tokenizer_learns_from_a_sample_sized_to_the_budget(tmp_path, monkeypatch, capsys):
    # Trained on all of a 1.26 GB file, the tokenizer took most of a 10-minute budget (#29).
    one_minute, ten_hours = budget.PreparationBudget(1), budget.PreparationBudget(600)
    assert one_minute.tokenizer_bytes == budget.MIN_TOKENIZER_SAMPLE_BYTES < ten_hours.tokenizer_bytes
    corpus = write_corpus(tmp_path / "notes.txt")
    monkeypatch.setattr(budget, "MIN_TOKENIZER_SAMPLE_BYTES", 20_000)
    monkeypatch.setattr(budget, "TOKENIZER_BYTES_PER_SECOND", 1_000)
    assert cli.main(["quickstart", str(corpus), "--minutes", "0.2", "--device", "cpu", "--runs-dir",
                     str(tmp_path / "runs"), "--plan-only", "--json"]) == 0
    why = json.loads(capsys.readouterr().out)["choices"][1]["why"]
    assert "It learns its tokens from the first 20.0 KB of the text, a sample sized to the time budget." in why


def test_the_model_tab_counts_the_dataset_tokens_quick_start_planned_with(tmp_path, monkeypatch):
    # Quick start hands its profile and its configuration to the page (the Model tab reads both): the
    # tab's dataset size must be the one Quick start planned with, by the one text-per-token rule.
    from clm_gui.model import planner
    from clm_gui.ui import model_actions

    planned_with = []
    recommend = planner.recommend
    monkeypatch.setattr(planner, "recommend", lambda request: planned_with.append(request) or recommend(request))
    planned = quickstart.plan_quickstart(str(write_corpus(tmp_path / "notes.txt")), 0.4, "cpu", tmp_path / "runs")
    tokens, how = model_actions.planned_dataset_tokens(planned.profile.to_dict(), planned.config.to_dict())
    assert tokens == planned_with[-1].dataset_tokens > 0
    assert "as the tokenizer cuts it" in how and "held out" in how
