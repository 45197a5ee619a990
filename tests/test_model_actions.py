"""The Model tab's actions, without Gradio or a page: each returns the widgets it changes by name."""

from __future__ import annotations

from clm_gui.config import DataConfig, RunConfig
from clm_gui.data.profiling import profile_source
from clm_gui.model import planner
from clm_gui.ui.model_actions import CUSTOM, ModelActions, config_fields
from clm_gui.ui.widgets import Shown
from tests.fast_runs import write_corpus

CPU = "This machine's CPU"


def form(**values) -> dict:
    """The tab's values as a fresh page has them, planning for this machine's CPU."""
    draft = RunConfig().to_dict()
    fields = {name: value for name, value in config_fields(draft).items() if name != "minutes"}
    return {**fields, "tokens": 0, "device": CPU, "gpu_memory_gb": 0, "gpu_model": "", "gpu_count": 0, "minutes": 60,
            "dataset_tokens": 0, "config": draft, "profile": None, **values}


def test_a_preset_fills_the_shape_and_custom_leaves_the_fields(tmp_path):
    actions = ModelActions(tmp_path)
    name, shape = next(iter(planner.PRESETS.items()))
    assert actions.choose_preset(name) == {"n_layer": shape.n_layer, "n_embd": shape.n_embd, "n_head": shape.n_head,
                                           "context_length": shape.context_length}
    assert actions.choose_preset(CUSTOM) == {}


def test_the_gpu_inputs_show_when_the_plan_is_for_a_gpu(tmp_path):
    actions = ModelActions(tmp_path)
    assert actions.device_chosen("A GPU (plan for one)") == {"gpu_row": Shown(True)}
    has_gpu = any(not gpu.error for gpu in actions.snapshot.gpus)
    assert actions.device_chosen(CPU) == {"gpu_row": Shown(has_gpu)}


def test_the_estimate_names_the_device_or_lists_what_to_fix(tmp_path):
    actions = ModelActions(tmp_path)
    shown = actions.estimate(form())
    assert shown["estimate_text"].startswith("**Estimate for these settings on 1 × ")
    assert shown["memory_plot"] is not None
    refused = actions.estimate(form(minutes=-1, n_head=0))
    assert refused["memory_plot"] is None
    assert refused["estimate_text"].startswith("**Fix these settings first:**")
    assert "- Time budget (minutes) cannot be negative (it is -1); 0 means no time budget." in refused["estimate_text"]


def test_the_draft_s_model_settings_show_only_where_they_changed(tmp_path):
    actions = ModelActions(tmp_path)
    draft = RunConfig().to_dict()
    shown = config_fields(draft)
    assert actions.show_config({**draft, "name": "renamed"}, shown) == {}  # another tab's setting: fields kept
    deeper = {**draft, "model": {**draft["model"], "n_layer": 9}}
    assert actions.show_config(deeper, shown) == {"n_layer": 9, "shown": config_fields(deeper)}


def test_the_dataset_size_comes_from_the_profile_once_and_a_typed_figure_then_stays(tmp_path):
    actions = ModelActions(tmp_path)
    profile = profile_source(DataConfig(source=str(write_corpus(tmp_path / "book.txt")))).to_dict()
    draft = RunConfig().to_dict()
    sized = actions.dataset_size(profile, draft, None)
    assert sized["dataset_tokens"] > 0 and sized["dataset_note"].startswith("Dataset size: ")
    assert sized["computed"] == [sized["dataset_tokens"], sized["dataset_note"][len("Dataset size: "):-1]]
    assert actions.dataset_size(profile, {**draft, "name": "renamed"}, sized["computed"]) == {}


def test_a_recommendation_fills_every_field_and_a_bad_input_only_says_why(tmp_path):
    actions = ModelActions(tmp_path)
    target_only = {name: value for name, value in form(minutes=2).items() if name not in config_fields(None)}
    recommended = actions.recommend({**target_only, "family": "gpt2", "minutes": 2})
    assert recommended["recommendation"].startswith("**Recommended: ")
    assert set(recommended) == {"recommendation", "preset", *config_fields(None)} - {"minutes", "family"}
    assert recommended["preset"] in [CUSTOM, *planner.PRESETS]
    assert actions.recommend(form(gpu_count=-2)) == {
        "recommendation": "**No recommendation:** GPUs cannot be negative (it is -2); 0 plans for all visible GPUs."}


def test_apply_writes_the_fields_and_the_budget_into_the_draft_or_keeps_it(tmp_path):
    actions = ModelActions(tmp_path)
    applied = actions.apply(form(n_layer=3, minutes=5))
    assert applied["config"]["model"]["n_layer"] == 3 and applied["config"]["train"]["max_minutes"] == 5
    assert applied["applied"].startswith("Applied to the run settings: 3 layers")
    draft = RunConfig().to_dict()
    refused = actions.apply(form(n_layer=0, config=draft))
    assert refused["config"] == draft and refused["applied"].startswith("**Not applied:** ")
