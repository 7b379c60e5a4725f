"""The presets of ``skmd al`` (the papers' studies as YAML in skmd/data/presets): each reads and validates, ships
its files, runs SKMD in the exploration regime, and is overridden by --config and flags; the aliases
``skmd ala2`` and ``skmd ubmd`` pick them."""
from pathlib import Path

import numpy as np
import pytest

from skmd.al.config import make_config
from skmd.al.presets import PRESET_DIR, preset_names, read_preset
from skmd.cli.al import config_from_args
from skmd.cli.main import build_parser, main

DATA = PRESET_DIR.parent
#: shipped structure file → the builder it was written from
BUILDERS = {"ala2_c7eq.extxyz": "skmd.atoms.alanine:alanine_dipeptide",
            "si_diamond.extxyz": "skmd.atoms.crystals:silicon_cell", "co2_pa3.extxyz": "skmd.atoms.crystals:co2_cell"}


def test_the_papers_studies_are_presets():
    assert set(preset_names()) >= {"ala2", "ala2-medium", "ala2-full", "ala2-h2h", "ubmd-ala2", "ubmd-si", "ubmd-co2"}


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_reads_validates_and_ships_its_files(name):
    config = make_config(read_preset(name))
    assert config.preset == name
    for key in ("structures", "test", "model", "start_labels"):
        path = getattr(config, key)
        if path is not None:
            assert Path(path).is_file() and Path(path).is_relative_to(DATA), (key, path)
    # structures built by a builder here, or a shipped starting point checked against its manifest
    # (ala2-h2h: tests/test_ala2_h2h.py)
    assert Path(config.structures).name in BUILDERS or (Path(config.structures).parent / "manifest.json").is_file()
    assert config.replay is None        # a preset needs no file of the user's


@pytest.mark.parametrize("name", preset_names())
def test_every_presets_samplers_and_trace_build(name):
    pytest.importorskip("mace")
    from skmd.al.samplers import builtin_samplers
    config = make_config(read_preset(name))
    samplers = builtin_samplers(config)
    assert [s.name for s in samplers] == list(config.samplers)
    for sampler in samplers:
        spec = sampler.spec(config.walkers, config.steps, seed=config.seed)
        assert spec.n_moves == config.walkers and spec.steps == config.steps
        assert config.trace is None or callable(sampler.trace)


@pytest.mark.parametrize("file, builder", list(BUILDERS.items()))
def test_the_shipped_structures_are_those_their_builders_make(file, builder):
    from ase.io import read
    from skmd.tools.factories import load_factory
    shipped, built = read(DATA / "structures" / file, index=":"), load_factory(builder, "builder")()
    assert len(shipped) == 1
    shipped = shipped[0]
    assert shipped.get_chemical_symbols() == built.get_chemical_symbols()
    np.testing.assert_allclose(shipped.positions, built.positions, atol=1e-7)
    np.testing.assert_allclose(shipped.cell.array, built.cell.array, atol=1e-12)
    np.testing.assert_array_equal(shipped.pbc, built.pbc)


@pytest.mark.parametrize("name", [name for name in preset_names() if "skmd" in read_preset(name)["samplers"]
                                  and name != "ala2-h2h"])
def test_every_preset_with_skmd_runs_it_in_the_exploration_regime(name):
    """Active learning runs SKMD in the exploration regime: the h/N the alanine-dipeptide coverage sweep
    chose, for each preset's walker count (docs/alanine-dipeptide.md); the campaign says which regime ran.
    (ala2-h2h takes its own pilot's choice: tests/test_ala2_h2h.py.)"""
    from skmd import kernel_regime
    from skmd.atoms.alanine import EXPLORATION_H_PER_WALKER
    config = make_config(read_preset(name))
    assert config.skmd_amplitude == pytest.approx(EXPLORATION_H_PER_WALKER * config.walkers, rel=1e-12)
    assert kernel_regime(config.skmd_amplitude, config.walkers) == "exploration"
    assert "exploration regime" in config.skmd_regime()


def test_config_file_and_flags_override_a_preset(tmp_path):
    config_file = tmp_path / "mine.yaml"
    config_file.write_text("walkers: 20\nsteps: 7\nsamplers: [skmd, md500]\n")
    args = build_parser().parse_args(["al", "--preset", "ala2", "--config", str(config_file), "--walkers", "10",
                                      "--skmd-amplitude", "1.0", "--out", str(tmp_path / "run")])
    config = config_from_args(args)
    preset = make_config(read_preset("ala2"))
    assert (config.walkers, config.skmd_amplitude) == (10, 1.0)          # flags win over the file and the preset
    assert (config.steps, config.samplers) == (7, ("md500", "skmd"))     # the file wins over the preset
    assert (config.test, config.trace, config.finetune, config.select) == \
        (preset.test, preset.trace, preset.finetune, preset.select)      # the rest is the preset's
    assert config.preset == "ala2" and config.out == str(tmp_path / "run") == args.out


def test_an_unknown_preset_is_refused(capsys):
    with pytest.raises(ValueError, match="no preset 'nope'; the presets are ala2, "):
        read_preset("nope")
    with pytest.raises(SystemExit) as exit_:
        main(["al", "--preset", "nope"])
    assert exit_.value.code == 2
    assert "skmd al: error: argument --preset: invalid choice: 'nope'" in capsys.readouterr().err


def _alias_config(monkeypatch, module, argv):
    """The campaign settings ``skmd <argv>`` would run, without running it."""
    seen = []

    def run(args):
        seen.append(config_from_args(args))
        return 0

    monkeypatch.setattr(module, "run", run)
    assert main(argv) == 0
    return seen[-1]


def test_the_ala2_alias_picks_the_preset_of_its_scale_and_flags_override_it(monkeypatch, tmp_path):
    from skmd.cli import ala2
    monkeypatch.chdir(tmp_path)
    config = _alias_config(monkeypatch, ala2, ["ala2", "--medium", "--samplers", "md300"])
    assert config.preset == "ala2-medium" and config.samplers == ("md300",)
    assert config.walkers == make_config(read_preset("ala2-medium")).walkers
    assert config.out == "runs/ala2-medium"
    for scale, preset in (("--quick", "ala2"), ("--full", "ala2-full")):
        config = _alias_config(monkeypatch, ala2, ["ala2", scale, "--out", str(tmp_path / "x"), "--seed", "4"])
        assert (config.preset, config.seed, config.out) == (preset, 4, str(tmp_path / "x"))


def test_the_ubmd_alias_picks_the_preset_of_its_system(monkeypatch, tmp_path):
    from skmd.cli import ubmd
    monkeypatch.chdir(tmp_path)
    assert _alias_config(monkeypatch, ubmd, ["ubmd"]).preset == "ubmd-ala2"
    config = _alias_config(monkeypatch, ubmd, ["ubmd", "--system", "si", "--pressure", "1.5"])
    assert (config.preset, config.pressure_GPa, config.out) == ("ubmd-si", 1.5, "runs/ubmd-si")


def test_underdamped_skmd_takes_its_own_amplitude():
    """ala2-medium keeps skmd-ud's h/N = 0.1 (the admissibility pilot's) for a run that adds it, while the preset
    itself leaves skmd-ud out (not admissible from its starts); skmd keeps its own h."""
    from skmd.al.samplers import builtin_samplers
    assert "skmd-ud" not in read_preset("ala2-medium")["samplers"]
    config = make_config(read_preset("ala2-medium"), {"samplers": ["skmd", "skmd-ud"]})
    by_name = {s.name: s for s in builtin_samplers(config)}
    assert by_name["skmd"].amplitude == config.skmd_amplitude == pytest.approx(11.25)
    assert by_name["skmd-ud"].amplitude == config.skmd_ud_amplitude == pytest.approx(3.0)
    assert "skmd-ud: SKMD runs in the Boltzmann regime" in config.skmd_regime()
    with pytest.raises(ValueError, match="skmd_ud_amplitude"):
        make_config(read_preset("ala2-medium"), {"skmd_ud_amplitude": -1.0}).validate()
