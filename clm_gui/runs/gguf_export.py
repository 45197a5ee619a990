"""A trained model as one GGUF file, for llama.cpp, Ollama and LM Studio, with an Ollama Modelfile beside it.

The file is written with the `gguf` package's `GGUFWriter`, one tensor at a time: the tensor table is
written first from the shapes alone, then each tensor is read, converted and written before the next is
read, so exporting needs the memory of one tensor, not of the model. It is written under a temporary name
and renamed when complete; a failure (a full disk) removes the partial file.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from clm_gui.errors import UserError, first_line
from clm_gui.files import TMP_PREFIX, atomic_write_text
from clm_gui.runs.export import EXPORTS_DIR, final_dir
from clm_gui.runs.faults import is_disk_full
from clm_gui.runs.folder import COMPLETE_MARKER, MODEL_CONFIG_FILE, RunDir
from clm_gui.runs.gguf_model import Family, block_count, family_of, gguf_name, stored_type
from clm_gui.runs.gguf_outtypes import DEFAULT_OUTTYPE, OUTTYPES
from clm_gui.runs.gguf_vocab import GgufVocab, read_vocab

MODELFILE_SUFFIX = ".Modelfile"
CONVERT_VALUES = 4_000_000  # values converted at once (16 MB of float32): bounds the temporaries of quantizing


@dataclass(frozen=True)
class GgufExport:
    path: Path
    modelfile: Path
    outtype: str
    bytes: int
    seconds: float


@dataclass(frozen=True)
class _PlannedTensor:
    file: Path  # the safetensors file holding it
    source: str  # its Hugging Face name
    name: str  # its GGUF name
    shape: tuple[int, ...]  # in ggml's layout (transposed where the family says so)
    qtype: gguf.GGMLQuantizationType

    @property
    def byte_shape(self) -> tuple[int, ...]:
        return tuple(gguf.quant_shape_to_byte_shape(self.shape, self.qtype))

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.byte_shape))


def model_folder(path: str | Path) -> Path:
    """The finished model a path names: a run folder's final/, or a final/ (or other saved model) folder.
    Checkpoints are refused: they are resumable training state, not the model the run settled on."""
    path = Path(path).expanduser()
    if (path / "config.yaml").is_file():
        return final_dir(RunDir(path))
    if (path / "trainer_state.json").is_file() or (path / COMPLETE_MARKER).is_file():
        raise UserError(f"{path} is a training checkpoint, not a finished model: GGUF export takes a run's "
                        "final/ model. Pass the run folder once the run has finished (resume a stopped run to "
                        "let it finish).")
    if not (path / MODEL_CONFIG_FILE).is_file():
        raise UserError(f"{path} is neither a run folder nor a model folder (no config.json): pass a run folder "
                        "or its final/ folder.")
    return path


def _model_name(folder: Path) -> str:
    return folder.parent.name if folder.name == "final" else folder.name


def _weight_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise UserError(f"{folder} holds no weights (model.safetensors); export a run's final/ model.")
    return files


def _plan(folder: Path, config: dict, family: Family, outtype: str) -> list[_PlannedTensor]:
    """Every tensor to write, from the shapes in the safetensors headers (no weights read yet)."""
    from safetensors import safe_open

    n_blocks, matrix_type = block_count(config), gguf.GGMLQuantizationType[OUTTYPES[outtype][0]]
    plan = []
    for file in _weight_files(folder):
        with safe_open(str(file), framework="pt") as weights:
            for source in weights.keys():
                shape = tuple(weights.get_slice(source).get_shape())
                shape = shape[::-1] if family.transposes(source) else shape
                name = gguf_name(source, family, n_blocks)
                plan.append(_PlannedTensor(file, source, name, shape, stored_type(name, shape, matrix_type)))
    return plan


def _tensor_bytes(weights, planned: _PlannedTensor, config: dict, family: Family) -> np.ndarray:
    """One tensor read, put in ggml's layout and converted to its stored type, as the bytes to write.
    Converted a few rows at a time: quantizing makes several temporary copies of what it is given."""
    tensor = family.to_ggml(planned.source, weights.get_tensor(planned.source).float(), config)
    rows = tensor.reshape(-1, tensor.shape[-1]).numpy()
    out = np.empty((rows.shape[0], planned.byte_shape[-1]), dtype=np.uint8)
    step = max(1, CONVERT_VALUES // rows.shape[1])
    for start in range(0, rows.shape[0], step):
        chunk = np.ascontiguousarray(rows[start:start + step])
        out[start:start + step] = gguf.quants.quantize(chunk, planned.qtype).view(np.uint8)
    return out.reshape(planned.byte_shape)


def _write(out: Path, folder: Path, config: dict, family: Family, vocab: GgufVocab, outtype: str,
           on_progress: Callable[[int, int], None] | None) -> None:
    from safetensors import safe_open

    plan = _plan(folder, config, family, outtype)
    total = sum(t.nbytes for t in plan)
    writer = gguf.GGUFWriter(out, family.arch_name)
    try:
        writer.add_name(_model_name(folder))
        writer.add_file_type(gguf.LlamaFileType[OUTTYPES[outtype][1]])
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        family.add_hparams(writer, config)
        vocab.add_to(writer)
        for t in plan:
            writer.add_tensor_info(t.name, t.byte_shape, np.dtype(np.uint8), t.nbytes, raw_dtype=t.qtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        done = 0
        for t in plan:
            # Opened for each tensor: closing unmaps the pages read, so the whole model is never resident.
            with safe_open(str(t.file), framework="pt") as weights:
                data = _tensor_bytes(weights, t, config, family)
            writer.write_tensor_data(data)
            done += t.nbytes
            if on_progress:
                on_progress(done, total)
    finally:
        writer.close()


def modelfile_text(gguf_file: str, eos_token: str, context_length: int) -> str:
    """An Ollama Modelfile: the prompt continued as plain text (the model knows no chat turns), stopping
    at the end-of-text token, with the context the model was trained on (Ollama's default may be longer,
    and positions past the trained ones are meaningless to the model)."""
    modelfile = Path(gguf_file).with_suffix(MODELFILE_SUFFIX).name
    return (f"# ollama create NAME -f {modelfile}, then: ollama run NAME \"a prompt\"\n"
            f"FROM ./{gguf_file}\n"
            'TEMPLATE """{{ .Prompt }}"""\n'
            f"PARAMETER stop {json.dumps(eos_token)}\n"
            f"PARAMETER num_ctx {context_length}\n")


def export_gguf(path: str | Path, outtype: str = DEFAULT_OUTTYPE, out: str | Path | None = None,
                on_progress: Callable[[int, int], None] | None = None) -> GgufExport:
    """Write the model that `path` names (a run folder or a model folder) as `out` (default
    ./<name>-<outtype>.gguf) and an Ollama Modelfile beside it. `on_progress(bytes_written, total)` is
    called after each tensor."""
    if outtype not in OUTTYPES:
        raise UserError(f"--outtype {outtype!r} is not one of {', '.join(OUTTYPES)}.")
    started = time.perf_counter()
    folder = model_folder(path)
    try:
        config = json.loads((folder / MODEL_CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{folder / 'config.json'} cannot be read ({first_line(exc)}).") from None
    family = family_of(config)
    out = Path(out or f"{_model_name(folder)}-{outtype}.gguf").expanduser()
    if out.suffix != ".gguf":
        raise UserError(f"--out {out} must end in .gguf (llama.cpp and Ollama look for that name).")
    tmp, modelfile = out.with_name(TMP_PREFIX + out.name), out.with_suffix(MODELFILE_SUFFIX)
    try:
        vocab = read_vocab(folder, config["vocab_size"])
        context = config.get("n_positions") or config["max_position_embeddings"]
        out.parent.mkdir(parents=True, exist_ok=True)
        _write(tmp, folder, config, family, vocab, outtype, on_progress)
        atomic_write_text(modelfile, modelfile_text(out.name, vocab.eos_token, context))
        os.replace(tmp, out)
    except KeyError as missing:  # a config.json without a setting llama.cpp needs
        raise UserError(f"{folder / 'config.json'} lacks the setting {missing}: it is not a complete model saved "
                        "by transformers. Export a run's final/ model.") from None
    except OSError as exc:
        cause, fix = ((f"the disk is full ({exc.strerror})", "Free some space or choose another --out")
                      if is_disk_full(exc) else (exc.strerror or str(exc), "Choose a writable --out"))
        raise UserError(f"Writing {out} failed: {cause}. The partial file was removed. {fix}, then export "
                        "again.") from None
    finally:  # whatever went wrong (a full disk, a cancel, a bug), no half-written file is left
        with contextlib.suppress(OSError):  # none was made (written, or the folder cannot hold one)
            tmp.unlink()
    return GgufExport(out, modelfile, outtype, out.stat().st_size, time.perf_counter() - started)


def export_run_gguf(run: RunDir, outtype: str = DEFAULT_OUTTYPE,
                    on_progress: Callable[[int, int], None] | None = None) -> GgufExport:
    """runs/<id>/exports/<id>-<outtype>-<random>.gguf and its Modelfile, replacing the run's previous GGUF
    export: like the zip, named so that only whoever was handed the name can download it, and kept in the
    run's own folder, so it counts towards (and is deleted with) the owner's run."""
    final_dir(run)
    exports = run.path / EXPORTS_DIR
    exports.mkdir(exist_ok=True)
    for previous in [*exports.glob(f"{run.id}-*.gguf"), *exports.glob(f"{run.id}-*{MODELFILE_SUFFIX}")]:
        previous.unlink()
    out = exports / f"{run.id}-{outtype}-{secrets.token_urlsafe(16)}.gguf"
    return export_gguf(run.path, outtype, out, on_progress)
