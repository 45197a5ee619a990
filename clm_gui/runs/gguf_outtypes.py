"""The weight types a GGUF export offers (`--outtype`), named without importing the `gguf` package, so that
the command line can build its parser (every `python -m clm_gui` command does) without loading it."""

# --outtype: the type of the weight matrices, and the file type llama.cpp reports for it, as the names of
# gguf.GGMLQuantizationType and gguf.LlamaFileType members
OUTTYPES = {
    "f32": ("F32", "ALL_F32"),
    "f16": ("F16", "MOSTLY_F16"),
    "bf16": ("BF16", "MOSTLY_BF16"),
    "q8_0": ("Q8_0", "MOSTLY_Q8_0"),
}
DEFAULT_OUTTYPE = "f16"  # half the size of f32, and what llama.cpp's converter writes by default
