"""``skmd al``: an active-learning campaign on your own structures, model and oracle (:mod:`skmd.al`).

Flags as ``mace_run_train`` has them: every setting is a flag, and ``--config FILE`` (YAML) may set any
of them by its name (``temperature_K: 500``); flags given on the command line win over the file.
"""
from __future__ import annotations

import argparse

from ..al.config import FIELDS, UNSET, CampaignConfig, make_config, read_yaml
from ..al.presets import preset_names, read_preset
from ..tools.pool import process_pool

#: flag → (CampaignConfig field, type, help) of the main settings; :func:`remaining_flags` adds the others
FLAGS = {
    "--structures": ("structures", str, "starting structures: any file ASE reads (all frames are used)"),
    "--oracle": ("oracle", str, "the oracle, 'module:function' returning an ASE calculator "
                                "(e.g. ase.calculators.emt:EMT)"),
    "--out": ("out", str, "run directory; rerun the same command to resume"),
    "--model": ("model", str, "MACE model to start from: skmd's .safetensors, or a .model pickle with "
                              "--trust-model (default: train a surrogate on oracle labels)"),
    "--samplers": ("samplers", str, "comma-separated subset of md, md<T> (MD at T K), skmd, skmd<h> (SKMD at "
                                    "kernel amplitude h), skmd-ud, ubmd, udd"),
    "--temperature": ("temperature_K", float, "temperature in K"),
    "--pressure": ("pressure_GPa", float, "pressure in GPa: NPT with stress labels (periodic cells); default NVT"),
    "--iterations": ("iterations", int, "active-learning iterations"),
    "--walkers": ("walkers", int, "walkers per sampler"),
    "--moves": ("moves", int, "walks per walker and iteration, one candidate each"),
    "--steps": ("steps", int, "steps per walk"),
    "--select": ("select", int, "labels per sampler and iteration"),
    "--selection": ("selection", str, "fps, max_det, lcmd, max_dist or random"),
    "--finetune": ("finetune", str, "full, lora, scratch or multihead (with --replay)"),
    "--replay": ("replay", str, "labelled extxyz frames of the base model's own data, replayed by multihead "
                                "fine-tuning"),
    "--start-labels": ("start_labels", str, "labelled extxyz frames (e.g. your DFT data) to start from instead of "
                                            "oracle labels of perturbed copies"),
    "--test": ("test", str, "labelled extxyz file to score on (default: a held-out part of the starting labels)"),
    "--workers": ("workers", int, "process pool for sampling, labelling and scoring, and parallel trainings"),
    "--dask-scheduler": ("dask_scheduler", str, "address of a Dask scheduler to run the tasks on instead"),
    "--device": ("device", str, "auto, cpu or cuda: where sampling, scoring and training run (auto: cuda where "
                                "torch sees one; UB-MD samples on the CPU)"),
    "--seed": ("seed", int, "seed of every random stream"),
}


def remaining_flags() -> dict:
    """flag → (field, type, help) of every other setting of :class:`~skmd.al.config.CampaignConfig`
    (``start_frames`` as ``--start-frames``), so that each setting is a flag, as the module says."""
    # --threads is every command's own flag (skmd.cli.main); config_from_args reads it into the config
    given = {field for field, _, _ in FLAGS.values()} | {"trust_model", "keep_training_files", "replace_failed",
                                                         "extra", "preset", "threads"}
    defaults, kinds = CampaignConfig(), {"int": int, "float": float, "str": str}
    flags = {}
    for name, spec in FIELDS.items():
        kind = kinds.get(str(spec.type).split(" |")[0])
        if name not in given and kind is not None:
            flags["--" + name.replace("_", "-")] = (name, kind, f"default {getattr(defaults, name)}")
    return flags


def add_command(sub) -> None:
    p = sub.add_parser("al", help="active learning on your own structures, model and oracle",
                       description="Active learning on your own system: sample (md, skmd, ubmd, udd), select, "
                                   "label with your oracle, fine-tune MACE, score; resumable.")
    p.add_argument("--preset", default=None, choices=preset_names(),
                   help="start from a shipped campaign (the papers' studies); --config and flags override it")
    add_campaign_flags(p)
    p.set_defaults(func=run, resumable=True)


def optional(kind):
    """An argparse type for a setting whose default is None: ``none`` switches it off (kept as the text
    "none", which :func:`skmd.al.config.make_config` turns into None), anything else is ``kind``."""

    def convert(text: str):
        return "none" if text.strip().lower() in UNSET else kind(text)
    convert.__name__ = kind.__name__
    return convert


#: a campaign's --threads (every other command's is skmd.cli.main.THREADS_HELP)
CAMPAIGN_THREADS_HELP = ("torch/BLAS threads of every sampling, scoring and training job (default: $SKMD_THREADS, "
                         "else the machine's cores shared among the jobs that run at once: all of them without "
                         "--workers)")


def add_campaign_flags(p) -> None:
    """Every setting of a campaign as a flag, ``--config``, ``--trust-model`` and ``--retry-failed``."""
    p.add_argument("--config", default=None, help="YAML file setting any option by its name (flags win)")
    defaults = CampaignConfig()
    for flag, (name, kind, text) in FLAGS.items():
        default = getattr(defaults, name)
        shown = f" (default {','.join(default) if isinstance(default, tuple) else default})" \
            if default not in (None, "") and "default" not in text else ""
        unset = "; none switches off a preset's value" if default is None else ""
        p.add_argument(flag, type=optional(kind) if default is None else kind, default=None,
                       help=text + shown + unset)
    more = p.add_argument_group("further settings", "see skmd.al.config.CampaignConfig for what each means")
    for flag, (name, kind, text) in remaining_flags().items():
        more.add_argument(flag, type=optional(kind) if getattr(defaults, name) is None else kind, default=None,
                          help=text + ("; none switches it off" if getattr(defaults, name) is None else ""))
    p.add_argument("--trust-model", action="store_true", default=None,
                   help="allow --model to be a .model pickle, which runs code when read")
    p.add_argument("--retry-failed", action="store_true", help="send frames the oracle failed on once more")
    p.add_argument("--keep-training-files", action="store_true", default=None,
                   help="keep mace_run_train's .model pickles and checkpoints (skmd keeps only the .safetensors "
                        "models, logs and data)")
    p.add_argument("--replace-failed", action=argparse.BooleanOptionalAction, default=None,
                   help="replace a selected frame the oracle failed on by the selector's next pick, so that each "
                        "iteration gets its select labels while candidates last (default on)")
    p.add_argument("--threads", type=int, default=None, help=CAMPAIGN_THREADS_HELP)


def config_from_args(args):
    """The validated campaign settings: the --config file, then the flags given."""
    from_preset = read_preset(args.preset) if args.preset else {}
    from_file = read_yaml(args.config) if args.config else {}
    every_flag = {**FLAGS, **remaining_flags()}
    from_flags = {field: getattr(args, flag.lstrip("-").replace("-", "_"))
                  for flag, (field, _, _) in every_flag.items()}
    from_flags["trust_model"] = args.trust_model
    from_flags["keep_training_files"] = getattr(args, "keep_training_files", None)
    from_flags["replace_failed"] = getattr(args, "replace_failed", None)
    from_flags["threads"] = getattr(args, "threads_flag", getattr(args, "threads", None))   # as given, else None
    config = make_config(from_preset, from_file, from_flags)
    args.out = config.out
    return config


def _executor(config):
    if config.dask_scheduler:
        from distributed import Client  # noqa: PLC0415  lazy: distributed is the atoms extra (only with --dask-scheduler)
        return Client(config.dask_scheduler).get_executor()
    if config.workers:
        return process_pool(config.workers)
    return None


def run(args) -> int:
    """Run the campaign the parsed ``args`` describe; print where the results are."""
    from ..al.campaign import Campaign  # noqa: PLC0415  lazy: skmd --help start-up (the campaign imports numpy, ase)
    config = config_from_args(args)
    campaign, executor = None, _executor(config)
    try:
        campaign = Campaign(config, executor=executor, retry_failed=args.retry_failed)
        results = campaign.run()
    finally:
        used = getattr(campaign, "executor", executor)        # the campaign's wrapper shuts down every pool it used
        if used is not None and hasattr(used, "shutdown"):
            used.shutdown()
        client = getattr(executor, "_client", None)          # a Dask client's executor: close the client too
        if client is not None:
            client.close()
    print(f"oracle calls: {results['oracle_calls']}; {results['wall_s']:.0f} s; wrote {config.out}/results.json, "
          f"report.md and training_set.extxyz")
    for name, path in results["final_model"].items():
        print(f"final model ({name}): {path}")
    return 0
