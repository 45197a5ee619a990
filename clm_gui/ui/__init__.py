"""The Gradio user interface. The only part of clm_gui that imports gradio."""
