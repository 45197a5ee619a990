"""Config declared once (issue 27): each number setting's bounds beside its field, one checker reading them
all, sections that validate on their own, and the command line and the tabs taking defaults, choices and
checks from the dataclasses."""

import argparse
import typing

import pytest

from clm_gui import cli
from clm_gui.config import (_SECTIONS, FAMILIES, TEXT_UNITS, TOKENIZER_ALGORITHMS, Bounds, DataConfig, ModelConfig,
                            RunConfig, TokenizerConfig, TrainConfig, declared_bounds, declared_problems)
from clm_gui.errors import ConfigError


def every_declared_bound() -> dict[str, tuple[type, str, Bounds]]:
    """(section class, field name, Bounds) of every bounded setting, by dotted name."""
    return {f"{prefix}.{name}": (cls, name, bounds) for prefix, cls in _SECTIONS.items()
            for name, bounds in declared_bounds(cls).items()}


def values_outside(bounds: Bounds, kind: type) -> list:
    """A value just past each edge the bounds declare."""
    step = 1 if kind is int else 0.5
    edges = [(bounds.at_least, -step), (bounds.above, 0), (bounds.at_most, step), (bounds.below, 0),
             (bounds.ceiling, step)]
    return [kind(edge + past) for edge, past in edges if edge is not None]


def values_at_edges(bounds: Bounds) -> list:
    """The edges that are themselves allowed."""
    return [edge for edge in (bounds.at_least, bounds.at_most, bounds.ceiling) if edge is not None]


def test_every_number_setting_of_every_section_declares_its_bounds():
    for prefix, cls in _SECTIONS.items():
        numbers = {name for name, kind in typing.get_type_hints(cls).items() if kind in (int, float)}
        assert numbers == set(declared_bounds(cls)), prefix


@pytest.mark.parametrize("dotted", every_declared_bound())
def test_the_one_checker_refuses_a_value_past_each_declared_bound_by_the_settings_name(dotted):
    cls, name, bounds = every_declared_bound()[dotted]
    kind = typing.get_type_hints(cls)[name]
    assert values_outside(bounds, kind), dotted  # every declaration bounds something
    for value in values_outside(bounds, kind):
        section = cls(**{name: value})
        [problem] = declared_problems(section)
        assert problem.startswith(f"{dotted} ") and "(it is " in problem, problem
        assert problem in section.validate(check_paths=False)
        assert problem in RunConfig(**{dotted.split(".")[0]: section}).validate(check_paths=False)
    for value in values_at_edges(bounds):
        assert declared_problems(cls(**{name: kind(value)})) == [], (dotted, value)


def test_the_declared_bounds_read_as_todays_sentences():
    assert declared_problems(ModelConfig(context_length=4, dropout=1.0, n_kv_head=-1)) == [
        "model.n_kv_head cannot be negative (it is -1); use 0 for as many as n_head.",
        "model.context_length must be at least 8 tokens (it is 4).",
        "model.dropout must be at least 0 and below 1 (it is 1.0).",
    ]
    assert declared_problems(TrainConfig(min_lr_ratio=1.5, learning_rate=0.0, eval_interval=-2)) == [
        "train.learning_rate must be above 0 and at most 1 (it is 0.0); 3e-4 to 1e-3 is typical.",
        "train.min_lr_ratio must be between 0 and 1 (it is 1.5).",
        "train.eval_interval must be at least -1 (it is -2); use -1 (spread over the run), 0 or a number of steps.",
    ]
    assert declared_problems(DataConfig(eval_fraction=0.0, max_chars=-1)) == [
        "data.eval_fraction must be above 0 and at most 0.5 (it is 0.0).",
        "data.max_chars cannot be negative (it is -1); use 0 for no limit.",
    ]
    assert declared_problems(TrainConfig(weight_decay=float("nan"))) == [
        "train.weight_decay cannot be negative (it is nan)."]  # NaN is inside no range


def test_each_section_validates_on_its_own():
    assert ModelConfig(n_layer=0, n_head=5).validate() == [
        "model.n_layer must be at least 1 (it is 0).",
        "model.n_head (5) must divide model.n_embd (256) evenly; for example use 4 heads.",
    ]
    assert DataConfig(min_chars=10, max_chars=5, text_unit="page").validate() == [
        "data.text_unit must be one of auto, document, paragraph, line (it is 'page').",
        "data.max_chars (5) is below data.min_chars (10): no document would pass.",
    ]
    assert TrainConfig(distributed="fsdp", ema_decay=0.9, max_steps=0).validate() == [
        "Set at least one limit: train.max_steps, train.max_tokens or train.max_minutes.",
        "train.ema_decay needs whole weights on every device: use train.distributed ddp, or 0.",
    ]
    assert TokenizerConfig(vocab_size=100).validate()[0].startswith("tokenizer.vocab_size (100) is smaller than")
    with pytest.raises(ConfigError, match="model.n_layer must be at least 1"):
        ModelConfig(n_layer=0).check()
    assert TrainConfig().check() == TrainConfig()


def test_a_reused_tokenizer_is_not_judged_by_the_settings_that_would_train_one():
    reused = TokenizerConfig(path="owner/name", vocab_size=2_000_000, min_frequency=0, sample_documents=-1)
    assert reused.validate() == []
    assert len(TokenizerConfig(vocab_size=2_000_000, min_frequency=0, sample_documents=-1).validate()) == 3
    assert TokenizerConfig(path="owner/name", algorithm="sentencepiece").validate() == [
        "tokenizer.algorithm must be one of bpe, wordpiece, unigram (it is 'sentencepiece')."]


def test_a_run_configuration_reports_its_sections_problems_in_order_all_at_once():
    data, model, train = DataConfig(eval_fraction=0.9), ModelConfig(n_embd=30), TrainConfig(beta2=1.0)
    cfg = RunConfig(data=data, model=model, train=train)
    assert cfg.validate(check_paths=False) == (data.validate(check_paths=False) + model.validate()
                                               + train.validate())
    assert len(cfg.validate(check_paths=False)) == 3


# ---------------------------------------------------------------------------------------------
# The command line and the tabs read the dataclasses.


def subcommand(*path: str) -> argparse.ArgumentParser:
    parser = cli.build_parser()
    for name in path:
        [choices] = [a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = choices[name]
    return parser


def option(parser: argparse.ArgumentParser, dest: str) -> argparse.Action:
    [action] = [a for a in parser._actions if a.dest == dest]
    return action


def test_the_command_lines_defaults_and_choices_are_the_settings_own():
    train = subcommand("tokenizer", "train")
    tok = TokenizerConfig()
    assert tuple(option(train, "algorithm").choices) == TOKENIZER_ALGORITHMS
    assert {dest: option(train, dest).default for dest in ("algorithm", "vocab_size", "min_frequency", "sample")} \
        == {"algorithm": tok.algorithm, "vocab_size": tok.vocab_size, "min_frequency": tok.min_frequency,
            "sample": tok.sample_documents}
    recommend = subcommand("recommend")
    assert tuple(option(recommend, "family").choices) == FAMILIES
    assert (option(recommend, "family").default, option(recommend, "vocab_size").default) == \
        (ModelConfig().family, tok.vocab_size)
    profile = subcommand("profile")
    assert option(profile, "text_unit").default == DataConfig().text_unit
    assert all(unit in option(profile, "text_unit").help for unit in TEXT_UNITS)


def test_the_command_line_refuses_a_value_past_a_declared_bound_with_its_sentence(tmp_path, capsys):
    code = cli.main(["tokenizer", "train", "demo", "--min-frequency", "0", "--out", str(tmp_path / "tok")])
    assert code == 2
    assert "tokenizer.min_frequency must be at least 1 (it is 0)." in capsys.readouterr().err
    assert not (tmp_path / "tok").exists()
    code = cli.main(["profile", "demo", "--max-documents", "-1"])
    assert code == 2
    assert "data.max_documents cannot be negative (it is -1); use 0 for no limit." in capsys.readouterr().err


def test_the_model_tab_checks_its_fields_against_the_declared_bounds():
    from clm_gui.ui import model_actions

    ceiling = declared_bounds(ModelConfig)["n_layer"].ceiling
    fields = model_actions.Fields(family="gpt2", n_layer=ceiling + 1, n_embd=256, n_head=4, n_kv_head=0,
                              intermediate_size=0, context_length=256, gradient_checkpointing=False,
                              micro_batch_size=0, grad_accum_steps=1, tokens=0)
    assert fields.problems() == [declared_problems(ModelConfig(n_layer=ceiling + 1))[0],
                                 "train.micro_batch_size must be at least 1 (it is 0)."]


def test_the_dataset_tab_checks_its_fields_against_the_declared_bounds():
    from clm_gui.errors import UserError
    from clm_gui.hosting.settings import AppSettings
    from clm_gui.ui import dataset_actions

    values = {"kind": "demo", "mode": "in memory", "text_column": "", "join_columns": [], "text_unit": "auto",
              "drop_empty": True, "drop_duplicates": False, "normalize_whitespace": False, "min_chars": 0,
              "max_chars": 0, "max_documents": 0, "eval_fraction": 0.9}
    with pytest.raises(UserError, match=r"data\.eval_fraction must be above 0 and at most 0\.5 \(it is 0\.9\)\."):
        dataset_actions.data_config(AppSettings(), values)
    assert dataset_actions.data_config(AppSettings(), {**values, "eval_fraction": 0.5}).eval_fraction == 0.5
