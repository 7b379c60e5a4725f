"""Every sampler setting has one default: the campaign's (CampaignConfig), the sampler dataclass's (skmd.al.samplers)
and the worker factory's (UBMDFactory, MACEFactory, CommitteeFactory) agree with skmd.tools.sampler_defaults, and
a campaign built by default runs exactly the samplers and factories one builds by hand with no arguments."""
import argparse
import dataclasses
import json

import pytest

from skmd.al.config import CampaignConfig
from skmd.al.samplers import MD, SKMD, UBMD, UDD, Context, builtin_samplers
from skmd.cli.al import add_campaign_flags, config_from_args, remaining_flags
from skmd.tools.rundir import as_json, check_config
from skmd.tools.sampler_defaults import MD_DEFAULTS, SKMD_DEFAULTS, UBMD_DEFAULTS, UDD_DEFAULTS
from skmd.uncertainty.factory import UBMDFactory
from skmd.uncertainty.feature_layers import DEFAULT_FEATURE_LAYERS

#: (CampaignConfig field, sampler class, its field, the one source's value); a config field may feed several samplers
ROWS = [
    *[(config, cls, field, getattr(MD_DEFAULTS, source))
      for cls in (MD, UBMD, UDD, SKMD)
      for config, field, source in (("temperature_K", "temperature_K", "temperature_K"),
                                    ("damping_fs", "damping_fs", "damping_fs"),
                                    ("sampling_dtype", "dtype", "dtype"),
                                    ("trace_interval", "trace_interval", "trace_interval"),
                                    ("max_volume_ratio", "max_volume_ratio", "max_volume_ratio"))],
    *[(config, cls, "timestep_fs", MD_DEFAULTS.timestep_fs) for cls in (MD, UBMD, UDD) for config in ("timestep_fs",)],
    *[("pressure_GPa", cls, "pressure_GPa", None) for cls in (MD, UBMD, UDD)],
    *[("trace", cls, "trace", None) for cls in (MD, UBMD, UDD, SKMD)],
    ("skmd_timestep_fs", SKMD, "timestep_fs", SKMD_DEFAULTS.timestep_fs),
    ("skmd_friction", SKMD, "friction", SKMD_DEFAULTS.friction),
    ("skmd_amplitude", SKMD, "amplitude", SKMD_DEFAULTS.amplitude),
    ("skmd_ud_amplitude", SKMD, "amplitude", None),          # None: skmd_amplitude (checked below)
    ("skmd_explore_fraction", SKMD, "explore_fraction", None),
    ("ubmd_tau", UBMD, "tau", UBMD_DEFAULTS.tau),
    ("ubmd_threshold", UBMD, "threshold", UBMD_DEFAULTS.threshold),
    ("ubmd_features", UBMD, "n_features", UBMD_DEFAULTS.n_features),
    ("ubmd_sigma", UBMD, "sigma", UBMD_DEFAULTS.sigma),
    ("ubmd_alpha", UBMD, "alpha", UBMD_DEFAULTS.alpha),
    ("ubmd_window", UBMD, "window", UBMD_DEFAULTS.window),
    ("ubmd_tau_stress", UBMD, "tau_stress", None),
    ("ubmd_interval", UBMD, "interval", None),
    ("ubmd_element_weights", UBMD, "element_weights", ()),   # a dict in the config, sorted pairs in the sampler
    ("ubmd_feature_layers", UBMD, "feature_layers", DEFAULT_FEATURE_LAYERS),
    ("udd_members", UDD, "members", UDD_DEFAULTS.members),
    ("udd_A", UDD, "A", UDD_DEFAULTS.A),
    ("udd_B", UDD, "B", UDD_DEFAULTS.B),
]
EVERY_SAMPLER = ("md", "skmd", "skmd-ud", "ubmd", "udd")
CONTEXT = Context(("model.safetensors", "b.safetensors", "c.safetensors"), "train.extxyz", "calibration.extxyz",
                  None, 7)


def default_of(cls, name):
    return {f.name: f.default for f in dataclasses.fields(cls)}[name]


def as_sampler_value(config_field, value):
    return tuple(sorted(value.items())) if config_field == "ubmd_element_weights" else value


@pytest.mark.parametrize("config_field, cls, field, value", ROWS,
                         ids=[f"{row[0]}-{row[1].__name__}.{row[2]}" for row in ROWS])
def test_config_and_sampler_defaults_agree_with_the_one_source(config_field, cls, field, value):
    config_default = as_sampler_value(config_field, getattr(CampaignConfig(), config_field))
    assert config_default == value, f"CampaignConfig.{config_field} = {config_default!r}, the source says {value!r}"
    if config_field != "skmd_ud_amplitude":
        assert default_of(cls, field) == value, f"{cls.__name__}.{field} = {default_of(cls, field)!r}, not {value!r}"


def test_every_sampler_setting_of_the_config_has_a_row():
    sampler_settings = {f.name for f in dataclasses.fields(CampaignConfig) if f.name.startswith(("skmd_", "ubmd_",
                                                                                                 "udd_"))}
    assert sampler_settings <= {row[0] for row in ROWS}, sampler_settings - {row[0] for row in ROWS}


def test_the_ubmd_factory_defaults_are_the_samplers_and_the_configs():
    factory = {f.name: f.default for f in dataclasses.fields(UBMDFactory)}
    shared = {name for name in factory if name in {f.name for f in dataclasses.fields(UBMD)}}
    assert {"n_features", "sigma", "alpha", "tau", "window", "tau_stress", "element_weights",
            "feature_layers"} <= shared
    for name in shared:
        assert factory[name] == default_of(UBMD, name), \
            f"UBMDFactory.{name} = {factory[name]!r} but UBMD.{name} = {default_of(UBMD, name)!r}"
    assert (factory["alpha"], factory["window"], factory["sigma"]) == (0.1, 50, 0.01)   # what campaigns always ran


def test_a_default_campaign_runs_the_default_samplers_and_factories():
    samplers = {s.name: s for s in builtin_samplers(CampaignConfig(samplers=EVERY_SAMPLER))}
    assert samplers["md"] == MD() and samplers["skmd"] == SKMD() and samplers["ubmd"] == UBMD() \
        and samplers["udd"] == UDD()
    assert samplers["skmd-ud"] == SKMD(timestep_fs=MD_DEFAULTS.timestep_fs, name="skmd-ud", underdamped=True)
    built = samplers["ubmd"].factory(CONTEXT)                 # light: no torch until the worker calls it
    by_hand = UBMDFactory("model.safetensors", "train.extxyz", "calibration.extxyz", seed=7)
    assert built == by_hand                                   # every setting at the factory's own default


def test_a_ubmd_setting_reaches_the_factory_from_yaml_and_flags(tmp_path):
    assert remaining_flags()["--ubmd-sigma"][:2] == ("ubmd_sigma", float)
    (tmp_path / "start.xyz").write_text("1\n\nH 0 0 0\n")
    (tmp_path / "campaign.yaml").write_text("samplers: [ubmd]\nubmd_sigma: 0.03\nstart_frames: 120\n")
    parser = argparse.ArgumentParser()
    add_campaign_flags(parser)
    args = parser.parse_args(["--structures", str(tmp_path / "start.xyz"), "--config", str(tmp_path / "campaign.yaml"),
                              "--ubmd-sigma", "0.02", "--ubmd-alpha", "0.05", "--ubmd-window", "100",
                              "--ubmd-features", "64", "--ubmd-tau", "0.3"])
    args.preset = None
    config = config_from_args(args)
    (sampler,) = builtin_samplers(config)
    factory = sampler.factory(CONTEXT)
    assert (factory.sigma, factory.alpha, factory.window, factory.n_features, factory.tau) == (0.02, 0.05, 100, 64, 0.3)


def test_a_run_saved_before_ubmd_sigma_existed_resumes(tmp_path):
    """An older config.json lacks ubmd_sigma: it counts as its default, 0.01, the value that run used."""
    saved = as_json(CampaignConfig(samplers=("ubmd",)))
    del saved["ubmd_sigma"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    check_config(tmp_path, CampaignConfig(samplers=("ubmd",)))              # resumes
    with pytest.raises(ValueError, match="ubmd_sigma"):
        check_config(tmp_path, CampaignConfig(samplers=("ubmd",), ubmd_sigma=0.02))


def test_the_atoms_side_factories_agree():
    """MD, SKMD and UDD build MACEFactory / CommitteeFactory with the sampler's dtype; their own defaults, the
    divergence check's volume factor and the trace's interval are the same values (imports torch)."""
    pytest.importorskip("torch")
    from skmd.al.traces import Trace
    from skmd.atoms.divergence import DivergenceCheck
    from skmd.atoms.parallel import CommitteeFactory, MACEFactory
    assert default_of(MACEFactory, "dtype") == default_of(CommitteeFactory, "dtype") == MD_DEFAULTS.dtype
    assert default_of(DivergenceCheck, "max_volume_ratio") == MD_DEFAULTS.max_volume_ratio
    assert Trace.__init__.__defaults__ == (MD_DEFAULTS.trace_interval,)
    samplers = builtin_samplers(CampaignConfig(samplers=EVERY_SAMPLER))
    factories = {s.name: s.factory(CONTEXT) for s in samplers}
    assert factories["md"] == factories["skmd"] == factories["skmd-ud"] == MACEFactory("model.safetensors")
    assert factories["udd"] == CommitteeFactory(CONTEXT.models, UDD_DEFAULTS.A, UDD_DEFAULTS.B)
