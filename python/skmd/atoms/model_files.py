"""MACE model files: skmd's safe format, and trusted pickles (docs/model-files.md).

A mace ``.model`` file is a pickle, and reading a pickle runs whatever code it holds (no allow-list
makes that safe: genuine MACE files already need ``torch.fx``'s code-executing helpers). So skmd
writes models only in its own format, which holds no code:

* one ``.safetensors`` file: the ``state_dict`` tensors (float64), and in the file's JSON header
  metadata ``skmd_format`` (:data:`FORMAT`), ``model_class`` ("ScaleShiftMACE"), ``mace_version``
  and ``config``: the constructor arguments mace's ``extract_config_mace_model`` reports, as JSON
  (irreps as text, arrays as lists, mace block classes and the gate function by name).

Reading one rebuilds the model with mace's own ``ScaleShiftMACE`` from that config, resolving class
names only among ``mace.modules.blocks`` and the gate among :data:`GATES`, and loads the tensors.
Any other file (a foundation model, a colleague's ``.model``) is a pickle and is read only with
``trusted=True``. The ``.model`` pickle ``mace_run_train`` needs is written by
:func:`write_training_pickle` from a safe file; what ``mace_run_train`` writes back is adopted with
:func:`adopt_trained` right after the run (see there).
"""
from __future__ import annotations

import copy
import inspect
import json
import os
import struct
import warnings
from pathlib import Path

from ..tools import mace_first  # noqa: F401  (imports mace quietly, before e3nn)
from ..tools.files import canonical_safetensors, safetensors_header
from .model_guard import building
import mace
import numpy as np
import torch
from e3nn import o3
from mace import modules
from mace.modules import blocks
from mace.tools.scripts_utils import extract_config_mace_model, remove_pt_head
from safetensors import safe_open
from safetensors.torch import load_file, save_file

FORMAT = "skmd-mace/1"
SUFFIX = ".safetensors"
MODEL_CLASS = "ScaleShiftMACE"
GATES = ("silu", "tanh", "relu", "gelu", "sigmoid", "softplus")   # torch.nn.functional names
TRUST_HINT = "load it only if you trust its source: trusted=True (command line: --trust-model); see docs/model-files.md"
#: one freshly built model per architecture (the ``config`` text of a file) in this process. Building a MACE
#: takes seconds (mace computes its Clebsch–Gordan coupling matrices anew each time) and a campaign reads
#: models of one architecture many times, so later reads copy the built one (a tenth of a second) and load
#: their own tensors into the copy. The built models themselves are never handed out.
_BUILT: dict = {}
_BUILT_KEPT = 8          # architectures kept (a fine-tune may change the config: scale, shift, E0s)


class UntrustedModelError(ValueError):
    """A model file that is not in skmd's safe format was to be read without trust."""


def is_safe_model(path) -> bool:
    """True when ``path`` is a safetensors file written in skmd's format (reads only its JSON header)."""
    try:
        header = safetensors_header(path)
    except (OSError, ValueError, struct.error):
        return False
    return (header.get("__metadata__") or {}).get("skmd_format") == FORMAT


def check_readable(path, trusted: bool = False, role: str = "") -> Path:
    """``path`` if it can be read: a file in skmd's safe format, or any file with ``trusted``; else a
    one-line ValueError (:class:`UntrustedModelError` for an untrusted pickle). ``role`` prefixes it."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no {role or 'MACE model'} file at {path}")
    if not (trusted or is_safe_model(path)):
        raise untrusted(path, role)
    return path


def looks_pickled(path) -> bool:
    """True when ``path`` starts as ``torch.save`` (a zip archive) or a pickle (protocol 2 or later) does."""
    with open(path, "rb") as handle:
        start = handle.read(4)
    return start.startswith(b"PK\x03\x04") or start[:1] == b"\x80"


def untrusted(path, role: str = "") -> ValueError:
    """The one-line error for a file that was to be read without trust: a pickle (:class:`UntrustedModelError`),
    or a file that is no model at all (a plain ValueError: trust would not help)."""
    where = f"{role + ' ' if role else ''}{path}"
    if not looks_pickled(path):
        return ValueError(f"{where} is not a model file: neither skmd's safe format ({SUFFIX} written by skmd) "
                          "nor a pickle such as a mace .model")
    return UntrustedModelError(f"{where} is not in skmd's safe model format ({SUFFIX}): it is a pickle (e.g. a "
                               f"mace .model), and reading a pickle runs any code it holds; {TRUST_HINT}")


def load_model(path, device: str = "cpu", trusted: bool = False):
    """The MACE model in ``path`` as float64 on ``device``.

    A file in skmd's safe format is rebuilt from its config and tensors; any other file is a
    pickle and is read (``torch.load``, which runs its code) only with ``trusted=True``, else
    :class:`UntrustedModelError`.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no MACE model file at {path}")
    if is_safe_model(path):
        return _load_safe(path).to(device)   # safetensors and JSON only, whatever the file holds by now
    if not trusted or not looks_pickled(path):   # decided here, at the one torch.load, not by an earlier check
        raise untrusted(path)
    with building():
        try:
            model = torch.load(path, map_location=device, weights_only=False)
        except Exception as error:  # noqa: BLE001  (a damaged or foreign pickle: one line, not a traceback)
            raise ValueError(f"{path} could not be read as a model ({type(error).__name__}: {error})") from error
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"{path} holds a {type(model).__name__}, not a MACE model")
    return model.double().to(device)


def save_model(model, path) -> Path:
    """Write ``model`` (a mace ``ScaleShiftMACE``) to ``path`` (``*.safetensors``) in skmd's safe format.

    Its floating-point tensors are stored in float32 when every one of them is exactly a float32 number (a
    model trained in float32, held in float64: half the file, nothing lost), else in float64;
    :func:`load_model` returns float64 either way."""
    path = Path(path)
    if path.suffix != SUFFIX:
        raise ValueError(f"skmd writes models as {SUFFIX} files (a .model file is mace's pickle), got {path}")
    if type(model).__name__ != MODEL_CLASS:
        raise ValueError(f"skmd stores {MODEL_CLASS} models only, got a {type(model).__name__}")
    config = extract_config_mace_model(model)
    if "error" in config:
        raise ValueError(f"mace cannot extract this model's configuration: {config['error']}")
    if config.get("cueq_config") is not None:
        raise ValueError("convert a cuEquivariance model to e3nn (mace's convert_cueq_e3nn) before saving it")
    tensors = narrowest({name: value.detach().to("cpu").contiguous().clone()
                         for name, value in model.state_dict().items()})
    metadata = {"skmd_format": FORMAT, "model_class": MODEL_CLASS, "mace_version": mace.__version__,
                "config": json.dumps({key: _encode(value, key) for key, value in config.items()})}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial), metadata=metadata)
    canonical_safetensors(partial)          # the same model, the same bytes (and SHA-256), in every process
    os.replace(partial, path)
    return path


def narrowest(tensors: dict) -> dict:
    """``tensors`` with every floating-point one in float32 if all of them are float32 numbers (nothing is
    lost), else in float64."""
    floats = [name for name, value in tensors.items() if value.is_floating_point()]
    exact32 = all(torch.equal(tensors[name].float().double(), tensors[name].double()) for name in floats)
    return {name: (value.float() if exact32 else value.double()) if name in floats else value
            for name, value in tensors.items()}


def convert_model(source, target, trusted: bool = False) -> Path:
    """Read the model in ``source`` (a pickle only with ``trusted=True``) and write it to ``target`` safely."""
    return save_model(load_model(source, trusted=trusted), target)


def write_training_pickle(safe_path, pickle_path) -> Path:
    """The ``.model`` pickle ``mace_run_train --foundation_model`` reads, written from the safe file
    ``safe_path`` (never from a foreign pickle): the module rebuilt from mace's classes, saved with torch."""
    check_readable(safe_path, trusted=False)
    pickle_path = Path(pickle_path)
    pickle_path.parent.mkdir(parents=True, exist_ok=True)
    model = load_model(safe_path)
    energies = model.atomic_energies_fn.atomic_energies
    if energies.ndim == 2 and energies.shape[0] == 1:
        # one head: E0s as (n_elements,), which the model's forward reads alike (torch.atleast_2d). mace
        # 0.3.16's run_train squeezes a (1, n) table and indexes it per element, which fails for n = 1
        # ("invalid index of a 0-dim tensor", run_train.py: the pt_head E0s of multi-head fine-tuning)
        model.atomic_energies_fn.atomic_energies = energies.reshape(-1)
    with building():
        torch.save(model, pickle_path)
    return pickle_path


def adopt_trained(mace_output, target, head: str | None = None) -> Path:
    """Convert the ``.model`` that skmd's own ``mace_run_train`` run just wrote into ``target`` (safe).

    Trusted by provenance: the subprocess skmd started wrote it inside the run directory from data
    and a foundation pickle skmd wrote there. It is read once, right after that run returned, and
    never again: resuming and every later stage read only ``target``. ``head``: of a multi-head model,
    keep only this head (mace's own ``remove_pt_head``, as its ``select_head`` command does), so that
    the saved model's one output is that head's.
    """
    if head is None:
        return convert_model(mace_output, target, trusted=True)
    return save_model(_one_head(load_model(mace_output, trusted=True), head), target)


def _one_head(model, head: str):
    """A single-head copy of the multi-head ``model`` holding ``head`` alone (mace's ``remove_pt_head``);
    ``model`` itself when ``head`` is its only head."""
    heads = list(getattr(model, "heads", []))
    if head not in heads:
        raise ValueError(f"the trained model has heads {heads}, not {head!r}")
    if len(heads) == 1:
        return model
    with building():                       # the new model is built in the process-wide default dtype
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            return _quietly(remove_pt_head, {"model": model, "head_to_keep": head}).double()
        finally:
            torch.set_default_dtype(previous)


def _load_safe(path: Path):
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    if metadata.get("model_class") != MODEL_CLASS:
        raise ValueError(f"{path}: model_class must be {MODEL_CLASS}, got {metadata.get('model_class')!r}")
    try:
        config = {key: _decode(value, key) for key, value in json.loads(metadata["config"]).items()}
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: unreadable model config ({error})") from None
    with building():
        if metadata["config"] not in _BUILT:
            while len(_BUILT) >= _BUILT_KEPT:
                _BUILT.pop(next(iter(_BUILT)))
            previous = torch.get_default_dtype()
            torch.set_default_dtype(torch.float64)
            try:
                _BUILT[metadata["config"]] = _quietly(modules.ScaleShiftMACE, config).double()
            finally:
                torch.set_default_dtype(previous)
        model = copy.deepcopy(_BUILT[metadata["config"]])
    try:
        model.load_state_dict(load_file(str(path)), strict=True)
    except RuntimeError as error:
        raise ValueError(f"{path}: its tensors do not fit the model its config describes ({error})") from None
    return model


def _quietly(build, kwargs):
    """``build(**kwargs)`` (a model class, or mace's head selection) without e3nn's TorchScript warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build(**kwargs)


def _encode(value, key: str):
    """A config value as JSON: irreps, arrays, mace block classes and gate functions tagged."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, o3.Irreps):   # a tuple, so before lists and tuples
        return {"irreps": str(value)}
    if isinstance(value, (list, tuple)):
        return [_encode(item, key) for item in value]
    if isinstance(value, dict):
        return {"dict": {str(k): _encode(v, key) for k, v in value.items()}}
    if isinstance(value, (np.ndarray, np.generic, torch.Tensor)):
        array = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value)
        return {"array": array.tolist(), "dtype": str(array.dtype)}
    if inspect.isclass(value) and value.__module__ == "mace.modules.blocks":
        return {"mace_block": value.__name__}
    if callable(value) and getattr(torch.nn.functional, getattr(value, "__name__", ""), None) is value \
            and value.__name__ in GATES:
        return {"function": value.__name__}
    raise ValueError(f"model config entry {key!r} holds a {type(value).__name__}, which skmd's format cannot store")


def _decode(value, key: str):
    """Inverse of :func:`_encode`; names resolve only among mace's blocks and :data:`GATES`."""
    if isinstance(value, list):
        return [_decode(item, key) for item in value]
    if not isinstance(value, dict):
        return value
    if "dict" in value:
        return {k: _decode(v, key) for k, v in value["dict"].items()}
    if "irreps" in value:
        return o3.Irreps(str(value["irreps"]))
    if "array" in value:
        dtype = np.dtype(str(value["dtype"]))
        if dtype.kind not in "biuf":
            raise ValueError(f"model config entry {key!r} is an array of {dtype}, not of numbers")
        return np.asarray(value["array"], dtype=dtype)
    if "mace_block" in value:
        block = getattr(blocks, str(value["mace_block"]), None)
        if not (isinstance(block, type) and issubclass(block, torch.nn.Module) and block.__module__ == blocks.__name__):
            raise ValueError(f"model config entry {key!r} names {value['mace_block']!r}, not a mace block class")
        return block
    if "function" in value and value["function"] in GATES:
        return getattr(torch.nn.functional, value["function"])
    raise ValueError(f"model config entry {key!r} holds {value!r}, which skmd's format does not know")
