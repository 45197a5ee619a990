"""The Tokenizer tab's layout: a recommendation from the dataset's domain, reuse a pretrained tokenizer or train
one, then evaluate and compare them on held-out text. What its widgets do is `ui/tokenizer_actions.py` (no
Gradio there); this module lays the widgets out, names them and wires each event to an action. The tokenizer
in use (and its vocabulary size, which the Model tab reads) is written into the shared run configuration."""

from __future__ import annotations

import dataclasses
import functools

import gradio as gr

from clm_gui.config import TOKENIZER_ALGORITHMS, TokenizerConfig
from clm_gui.hosting.ownership import machine_user
from clm_gui.ui.context import UIContext
from clm_gui.ui.form import Form
from clm_gui.ui.tokenizer_actions import (ALGORITHM_NOTES, BOUNDARY_COLORS, TRAINING_FIELDS, TokenizerActions,
                                          recommendation_markdown)
from clm_gui.ui.widgets import for_gradio, named


def build(ctx: UIContext) -> None:
    actions, visitors, hosted = TokenizerActions(ctx.settings, warn=gr.Warning), ctx.visitors, ctx.settings.hosted
    gr.Markdown("## Tokenizer")
    defaults = TokenizerConfig()
    with gr.Row():
        recommendation = gr.Markdown(recommendation_markdown(None), elem_id="tokenizer-recommendation")
        apply = gr.Button("Apply the recommendation", size="sm", scale=0)
    with gr.Row(equal_height=False):
        with gr.Column():
            gr.Markdown("### Train a new tokenizer")
            algorithm = gr.Radio(list(TOKENIZER_ALGORITHMS), value=defaults.algorithm, label="Algorithm")
            algorithm_note = gr.Markdown(ALGORITHM_NOTES[defaults.algorithm])
            with gr.Row():
                vocab_size = gr.Number(defaults.vocab_size, precision=0, label="Vocabulary size",
                                       elem_id="tokenizer-vocab-size")
                min_frequency = gr.Number(defaults.min_frequency, precision=0, label="Minimum pair frequency")
                sample = gr.Number(defaults.sample_documents, precision=0, elem_id="tokenizer-sample",
                                   label="Train on the first N documents (0: all)")
            with gr.Row():
                lowercase = gr.Checkbox(defaults.lowercase, label="Lowercase")
                nfkc = gr.Checkbox(defaults.nfkc, label="NFKC (merge look-alike characters)")
            name = gr.Textbox(label="Save as", placeholder="algorithm-size, e.g. bpe-8192", elem_id="tokenizer-name")
            with gr.Row():
                train = gr.Button("Train tokenizer", variant="primary", elem_id="tokenizer-train")
                cancel = gr.Button("Cancel", elem_id="tokenizer-cancel")
        with gr.Column():
            gr.Markdown("### Reuse a pretrained tokenizer")
            choice = gr.Dropdown(actions.offered_to(None if hosted else machine_user()), value=None,
                                 allow_custom_value=True, elem_id="tokenizer-choice",
                                 label="A saved tokenizer, a run folder or a Hub id (owner/name)")
            add_eos = gr.Checkbox(False, label="Add an end-of-text token if it has none")
            load = gr.Button("Load tokenizer", elem_id="tokenizer-load")
    status = gr.Markdown(elem_id="tokenizer-status")
    gr.Markdown("### Evaluate and compare on held-out text")
    with gr.Row():
        compared = gr.CheckboxGroup([], label="Tokenizers to compare", elem_id="tokenizer-compared", scale=3)
        in_use = gr.Dropdown([], label="Use for training", elem_id="tokenizer-in-use", scale=2)
        compare = gr.Button("Compare", elem_id="tokenizer-compare", scale=0)
    caption = gr.Markdown()
    table = gr.Dataframe(label="Comparison", interactive=False, elem_id="tokenizer-table")
    plot = gr.Plot(label="Comparison chart", elem_id="tokenizer-plot")
    boundaries = gr.HighlightedText(label="Token boundaries", color_map=BOUNDARY_COLORS, show_legend=False,
                                    show_inline_category=False, elem_id="tokenizer-boundaries")

    widgets = dict(
        recommendation=recommendation, algorithm=algorithm, algorithm_note=algorithm_note, vocab_size=vocab_size,
        min_frequency=min_frequency, sample_documents=sample, lowercase=lowercase, nfkc=nfkc, name=name,
        choice=choice, add_eos=add_eos, status=status, compared=compared, in_use=in_use, caption=caption,
        table=table, plot=plot, boundaries=boundaries, config=ctx.config, profile=ctx.profile,
        session=gr.State([]),  # [{"name", "path", "vocab_size"}]: what this browser session trained or loaded
        added=gr.State(None),  # the name of the tokenizer the last train or load added; None when it failed
        shown=gr.State(dataclasses.asdict(defaults)))  # the tokenizer settings as this tab last showed them
    training = Form(**{field: widgets[field] for field in (*TRAINING_FIELDS, "name", "config", "profile", "session",
                                                            "compared")})

    changed = functools.partial(named, widgets)  # the widgets of these names, in order

    # Each function below is named for its endpoint, as before: scripts and tests call them by these names.
    def _train(given: dict, request: gr.Request, oauth: gr.OAuthProfile | None, progress=gr.Progress()):
        # The one dict (ui/form.py) leaves Request and Progress as the parameters Gradio knows how to fill in.
        visitor = visitors.resolve(request, oauth, given[visitors.token])
        return for_gradio(actions.train(visitor, training.values(given), request.session_hash, progress), widgets)

    def _compare_added(added, *compare_values):
        return for_gradio(actions.compare_added(added, *compare_values), widgets)

    def _cancel(request: gr.Request):
        return for_gradio(actions.cancel(request.session_hash), widgets)

    def _load(visitor, *values):
        return for_gradio(actions.load(visitor, *values), widgets)

    def _choose(*values):
        return for_gradio(actions.choose(*values), widgets)

    def _compare(*values):
        return for_gradio(actions.compare(*values), widgets)

    def _apply_recommendation(kept_profile):
        return for_gradio(actions.apply_recommendation(kept_profile), widgets)

    def _algorithm_changed(algorithm_now):
        return for_gradio(actions.algorithm_changed(algorithm_now), widgets)

    def _recommendation_markdown(kept_profile, config):
        return for_gradio(actions.recommendation(kept_profile, config), widgets)

    def _show_config(*values):
        return for_gradio(actions.show_config(*values), widgets)

    compare_inputs = changed("compared", "in_use", "session", "config")
    compare_outputs = changed("table", "plot", "boundaries", "caption")
    train.click(_train, show_progress="full", inputs=training.inputs(visitors.token),
                outputs=changed("status", "config", "session", "compared", "in_use", "choice", "added")).then(
        _compare_added, [widgets["added"], *compare_inputs], compare_outputs)
    cancel.click(_cancel, None, status)
    load.click(visitors.bind(_load), visitors.inputs(*changed("choice", "add_eos", "config", "session", "compared")),
               changed("status", "config", "session", "compared", "in_use", "added")).then(
        _compare_added, [widgets["added"], *compare_inputs], compare_outputs)
    in_use.input(_choose, changed("in_use", "config", "session"), changed("status", "config"))
    compare.click(_compare, compare_inputs, compare_outputs)
    apply.click(_apply_recommendation, ctx.profile, changed("algorithm", "vocab_size", "choice", "status"))
    algorithm.change(_algorithm_changed, algorithm, changed("min_frequency", "algorithm_note"))
    ctx.profile.change(_recommendation_markdown, changed("profile", "config"), recommendation)
    if hosted:  # the visitor's own saved tokenizers, once the page knows who they are
        visitors.token.change(visitors.bind(lambda visitor: for_gradio(actions.visitor_known(visitor), widgets)),
                              visitors.inputs(), choice, show_progress="hidden", api_visibility="private")
    ctx.config.change(_show_config, changed("config", "shown", "session", "compared"),
                      changed(*TRAINING_FIELDS, "status", "session", "compared", "in_use", "shown"),
                      show_progress="hidden")
