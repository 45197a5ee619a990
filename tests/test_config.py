"""RunConfig: validation in words, upper bounds, YAML round trip, unknown keys and overrides."""

from pathlib import Path

import pytest
import yaml

from clm_gui.config import (_SECTIONS, SCHEMA_VERSION, Bounds, DataConfig, RunConfig, apply_overrides, config_from_dict,
                            config_from_yaml, declared_bounds, hub_source, load_config, parse_hub_source)
from clm_gui.errors import ConfigError


def problems_of(**changes) -> list[str]:
    cfg = RunConfig()
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        setattr(getattr(cfg, section), key, value)
    return cfg.validate()


def test_default_config_is_valid():
    assert RunConfig().validate() == []


@pytest.mark.parametrize("changes, expected", [
    ({"model__context_length": 4}, "model.context_length must be at least 8"),
    ({"model__n_head": 5}, "model.n_head (5) must divide model.n_embd (256)"),
    ({"tokenizer__vocab_size": 2}, "tokenizer.vocab_size (2) is not larger than the 2 special tokens"),
    ({"tokenizer__vocab_size": 100}, "smaller than the 256 byte symbols"),
    ({"train__micro_batch_size": 0}, "train.micro_batch_size must be at least 1"),
    ({"train__learning_rate": 0.0}, "train.learning_rate must be above 0"),
    ({"train__learning_rate": -1e-3}, "train.learning_rate must be above 0"),
    ({"data__source": "/no/such/folder"}, "data.source: the path /no/such/folder does not exist"),
    ({"data__source": "hub:bad id!"}, "is not a valid Hub dataset id"),
    ({"train__precision": "fp8"}, "train.precision must be one of"),
    ({"train__max_steps": 0}, "Set at least one limit"),
    ({"train__distributed": "zero3"}, "train.distributed must be one of ddp, fsdp"),
    ({"train__distributed": "fsdp", "train__precision": "fp16"}, "fsdp trains in bf16 or fp32, not fp16"),
])
def test_validate_explains_each_problem(changes, expected):
    problems = problems_of(**changes)
    assert any(expected in p for p in problems), problems


def test_validate_reports_every_problem_not_only_the_first():
    problems = problems_of(model__context_length=4, train__micro_batch_size=0, train__learning_rate=0.0)
    assert len(problems) == 3


def test_heads_message_suggests_a_divisor():
    [message] = problems_of(model__n_head=5)
    assert "for example use 4 heads" in message


def test_yaml_round_trip_keeps_every_field_and_schema_version(tmp_path):
    cfg = RunConfig(name="x")
    cfg.train.max_steps, cfg.data.join_columns = 123, ["title", "body"]
    path = tmp_path / "c.yaml"
    cfg.save(path)
    assert yaml.safe_load(path.read_text())["schema_version"] == SCHEMA_VERSION
    assert load_config(path) == cfg


def test_unknown_keys_are_rejected_by_name():
    with pytest.raises(ConfigError) as err:
        config_from_dict({"train": {"max_step": 10, "lr": 1}, "extra": {}})
    text = str(err.value)
    assert "train.lr" in text and "train.max_step" in text and "extra" in text


def test_unknown_keys_and_bad_values_are_reported_together_in_one_error():
    with pytest.raises(ConfigError) as err:
        config_from_dict({"model": {"n_layer": -3}, "train": {"lr": 1, "micro_batch_size": 0}, "bogus": {}})
    problems = err.value.problems
    assert any("Unknown section(s) bogus" in p for p in problems), problems
    assert any("Unknown setting(s) train.lr" in p for p in problems), problems
    assert any("model.n_layer must be at least 1 (it is -3)" in p for p in problems), problems
    assert any("train.micro_batch_size must be at least 1 (it is 0)" in p for p in problems), problems
    assert len(problems) == 4, problems


def test_a_value_that_could_not_be_read_is_reported_once_not_judged_by_its_default():
    # n_head "four" is unreadable: the default 4 it falls back to does not divide 30, but that is not
    # the user's value, so only the type problem is reported, next to n_embd's own.
    with pytest.raises(ConfigError) as err:
        config_from_dict({"model": {"n_head": "four", "n_embd": 30, "context_length": 4}})
    assert err.value.problems == ["model.n_head must be a whole number, not 'four'.",
                                  "model.context_length must be at least 8 tokens (it is 4)."]


def test_starting_or_resuming_a_run_reports_every_problem_at_once(tmp_path):
    from clm_gui.jobs.preparation import prepare_run  # what the command line and the app start and resume runs with
    from clm_gui.runs.folder import new_run_dir

    path = tmp_path / "c.yaml"
    path.write_text("model: {n_layer: -3}\nbogus: {}\n")
    with pytest.raises(ConfigError) as err:
        prepare_run(path, [], None, tmp_path / "runs")
    assert "Unknown section(s) bogus" in str(err.value) and "model.n_layer must be at least 1" in str(err.value)
    run = new_run_dir(tmp_path / "runs", RunConfig())
    with pytest.raises(ConfigError) as err:
        prepare_run(None, ["train.max_stepz=10", "train.learning_rate=-1"], run.path, tmp_path / "runs")
    assert "Unknown setting(s) train.max_stepz" in str(err.value) and "learning_rate must be above 0" in str(err.value)


def test_loading_checks_paths_only_to_report_them_beside_other_problems(tmp_path):
    missing = str(tmp_path / "nowhere")
    assert config_from_dict({"data": {"source": missing}}).data.source == missing  # read, not judged
    with pytest.raises(ConfigError) as err:
        config_from_dict({"data": {"source": missing}, "bogus": {}})
    assert any(f"the path {missing} does not exist" in p for p in err.value.problems)
    with pytest.raises(ConfigError) as err:
        config_from_dict({"data": {"source": missing}, "bogus": {}}, check_paths=False)
    assert len(err.value.problems) == 1


def test_wrong_types_are_named():
    with pytest.raises(ConfigError) as err:
        config_from_yaml("model:\n  n_layer: four\ntrain:\n  compile: 3\n  max_steps: true\n")
    text = str(err.value)
    assert "model.n_layer must be a whole number" in text
    assert "train.max_steps must be a whole number" in text


def test_schema_version_mismatch_is_explained():
    with pytest.raises(ConfigError, match="schema_version is 99"):
        config_from_dict({"schema_version": 99})


def test_invalid_yaml_is_a_config_error():
    with pytest.raises(ConfigError, match="not valid YAML"):
        config_from_yaml("train: [unclosed")


def test_overrides_set_dotted_fields_with_the_same_validation(tmp_path):
    path = tmp_path / "c.yaml"
    RunConfig().save(path)
    cfg = load_config(path, ["train.max_steps=200", "data.source=notes.txt", "train.learning_rate=1e-3"])
    assert (cfg.train.max_steps, cfg.data.source, cfg.train.learning_rate) == (200, "notes.txt", 1e-3)
    with pytest.raises(ConfigError, match="train.max_stepz"):
        load_config(path, ["train.max_stepz=3"])
    with pytest.raises(ConfigError, match="must look like section.key=value"):
        apply_overrides({}, ["max_steps=3"])


def test_on_and_off_stay_words_for_text_settings_and_mean_true_and_false_for_switches(tmp_path):
    # YAML 1.1 reads on/off/yes/no as booleans: `--set train.compile=on` used to fail as "not True".
    cfg = config_from_dict(apply_overrides(RunConfig().to_dict(), ["train.compile=on", "data.streaming=yes"]))
    assert (cfg.train.compile, cfg.data.streaming) == ("on", True)
    path = tmp_path / "config.yaml"
    path.write_text(f"schema_version: {SCHEMA_VERSION}\ntrain:\n  compile: off\ndata:\n  streaming: no\n")
    cfg = load_config(path)
    assert (cfg.train.compile, cfg.data.streaming) == ("off", False)
    assert config_from_yaml(cfg.to_yaml()) == cfg


def test_fsdp_is_a_setting_of_the_run_configuration(tmp_path):
    path = tmp_path / "c.yaml"
    RunConfig().save(path)
    assert load_config(path).train.distributed == "ddp"
    cfg = load_config(path, ["train.distributed=fsdp", "train.precision=bf16"])
    assert cfg.train.distributed == "fsdp" and cfg.validate() == []
    with pytest.raises(ConfigError, match="train.distributed must be one of ddp, fsdp"):
        load_config(path, ["train.distributed=FSDP"]).check()


@pytest.mark.parametrize("dataset_id, config, split, parsed", [
    ("owner/name", "en", "validation", ("owner/name", "en", "validation")),
    ("owner/name", "", "", ("owner/name", None, "train")),  # the dataset's default config, the train split
    ("name", None, "test", ("name", None, "test")),
])
def test_a_hub_source_reads_back_as_it_was_written(dataset_id, config, split, parsed):
    source = hub_source(dataset_id, config, split)
    assert source.startswith("hub:") and parse_hub_source(source) == parsed
    assert RunConfig(data=DataConfig(source=source)).validate() == []


# ---------------------------------------------------------------------------------------------
# Upper bounds (issue 24)


def bounded_settings() -> dict[str, Bounds]:
    """Every setting with an upper bound (a ceiling, with its reason), by dotted name."""
    return {f"{section}.{name}": bounds for section, cls in _SECTIONS.items()
            for name, bounds in declared_bounds(cls).items() if bounds.ceiling is not None}


def test_the_settings_that_size_a_model_or_a_run_have_upper_bounds_each_with_its_reason():
    bounds = bounded_settings()
    assert {"model.n_layer", "model.n_head", "model.n_embd", "model.context_length", "model.intermediate_size",
            "train.micro_batch_size", "train.grad_accum_steps", "train.max_steps", "train.max_tokens",
            "train.max_minutes", "train.seed", "tokenizer.vocab_size"} <= set(bounds)
    for name, bound in bounds.items():
        section, key = name.split(".")
        cfg = RunConfig()
        setattr(getattr(cfg, section), key, bound.ceiling)
        assert not [p for p in cfg.validate() if name in p], name  # the bound itself is allowed
        setattr(getattr(cfg, section), key, bound.ceiling + 1)
        assert [f"{name} must be at most {bound.ceiling:,} (it is {bound.ceiling + 1:,}): {bound.why}."] \
            == [p for p in cfg.validate() if "at most" in p], name
        assert len(bound.why) > 5


def test_absurd_sizes_from_a_file_are_each_refused_at_once(tmp_path):
    """The issue's file: every value validated, none made an integer silently."""
    with pytest.raises(ConfigError) as err:
        config_from_yaml("model: {n_layer: 100000, n_embd: 1048576}\n"
                         "train: {micro_batch_size: 1e9, max_steps: 1e34, max_minutes: 1e34}\n")
    assert err.value.problems == [
        "train.max_steps must be a whole number, not 1e+34 (a number this large is not exact as a float).",
        "model.n_layer must be at most 256 (it is 100,000): twice the deepest open models (Llama 3 405B has "
        "126 layers).",
        "model.n_embd must be at most 32,768 (it is 1,048,576): twice Llama 3 405B's width; one layer this wide "
        "has 12.9 billion parameters.",
        "train.max_minutes must be at most 525,600 (it is 1e+34): a year; for no time limit use 0.",
        "train.micro_batch_size must be at most 65,536 (it is 1,000,000,000): even at the shortest context that "
        "is half a million tokens per forward pass; lower it and raise train.grad_accum_steps.",
    ]


@pytest.mark.parametrize("text, expected", [
    ("1e30", "train.max_steps must be a whole number, not 1e+30 (a number this large is not exact as a float)."),
    ("1.5", "train.max_steps must be a whole number, not 1.5."),
    ("10000000000000000000000000000000", "train.max_steps must be at most 1,000,000,000"),
])
def test_max_steps_is_never_rounded_into_a_whole_number_it_was_not(tmp_path, text, expected):
    path = tmp_path / "c.yaml"
    RunConfig().save(path)
    with pytest.raises(ConfigError) as err:
        load_config(path, [f"train.max_steps={text}"]).check()
    assert err.value.problems[0].startswith(expected), err.value.problems
    assert load_config(path, ["train.max_steps=2e5"]).train.max_steps == 200_000  # exact: read as written


def test_a_negative_seed_is_refused():
    assert problems_of(train__seed=-1) == ["train.seed cannot be negative (it is -1)."]


def test_the_reliability_page_lists_every_bound_with_its_reason():
    page = (Path(__file__).resolve().parents[1] / "docs" / "reliability.md").read_text(encoding="utf-8")
    for name, bound in bounded_settings().items():
        assert f"`{name}` | {bound.ceiling:,} |" in page, name


@pytest.mark.parametrize("text, local", [("./tok", True), ("/abs/tok", True), ("~/tok", True), ("gpt2", False),
                                         ("owner/name", False), ("{existing}", True)])
def test_a_tokenizer_reference_is_local_or_a_hub_id_by_one_rule(text, local, tmp_path, monkeypatch):
    """The config check, the loader and hosted mode ask `names_local_path` alike: written as a path, or
    existing here (a folder named like a Hub id, in the working directory, is local)."""
    from clm_gui.config import names_local_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "existing").mkdir()
    assert names_local_path(text.format(existing="existing")) is local


def test_every_setting_of_a_few_words_is_checked_against_the_words_its_type_declares():
    """The Literal type is the one list: the check reads it, with the message naming every allowed word."""
    import typing

    for prefix, cls in _SECTIONS.items():
        for name, kind in typing.get_type_hints(cls).items():
            if typing.get_origin(kind) is not typing.Literal:
                continue
            cfg = RunConfig()
            setattr(getattr(cfg, prefix), name, "nonsense")
            words = ", ".join(typing.get_args(kind))
            assert f"{prefix}.{name} must be one of {words} (it is 'nonsense')." in cfg.validate(check_paths=False)
            setattr(getattr(cfg, prefix), name, typing.get_args(kind)[-1])
            assert not any(f"{prefix}.{name} must be one of" in p for p in cfg.validate(check_paths=False))
