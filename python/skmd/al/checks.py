"""Every input of a campaign checked before any oracle call or training, each failure in one line."""
from __future__ import annotations

from ase.data import chemical_symbols

from ..atoms.mace_models import load_mace
from ..atoms.model_files import check_readable
from ..atoms.training import replay_frames
from ..tools.checks import element_names
from ..tools.labels import with_reference_labels
from ..tools.factories import load_factory
from .start import check_labelled, check_structures, read_structures


def check_inputs(config, oracle=None) -> tuple:
    """(oracle factory, starting structures, test frames or []) after checking all of them.

    Refused: a missing or unreadable structure file; structures mixing molecules and cells, or not
    periodic in 3D under a pressure; an oracle that cannot be imported, or without stress on an NPT run;
    a model file that is a pickle without ``trust_model``, or that does not know every element of the
    structures (named as symbols); a test file without reference labels (or stress, under NPT), or with an
    element that no starting structure has.
    """
    structures = read_structures(config.structures)
    check_structures(structures, config.npt)
    factory = oracle if oracle is not None else load_factory(config.oracle, "the oracle")
    if not callable(factory):
        raise ValueError("the oracle must be a callable that returns an ASE calculator")
    if config.npt:
        _check_oracle_stress(factory)
    test = []
    if config.test is not None:
        test = read_structures(config.test)
        check_labelled(test, config.test, stress=config.npt)
        check_test_elements(test, config.test, structures)
    if config.model is not None:
        known = check_model(config.model, config.trust_model, structures)
        if config.replay is not None:
            replay_frames(config.replay, known, config.valid_fraction, stress=config.npt)
    check_element_weights(config.ubmd_element_weights)
    return factory, structures, test


def check_element_weights(weights: dict) -> None:
    """ValueError naming any key of ``ubmd_element_weights`` that is not a chemical symbol."""
    unknown = [str(key) for key in weights if str(key) not in chemical_symbols[1:]]
    if unknown:
        raise ValueError(f"ubmd_element_weights names {', '.join(unknown)}, which are not element symbols "
                         "(e.g. {H: 0.0})")


def check_test_elements(test, path, structures, role: str = "test file") -> None:
    """ValueError unless every element of the test frames is in the structures (the models learn no other)."""
    known = {int(z) for atoms in structures for z in atoms.numbers}
    extra = {int(z) for atoms in test for z in atoms.numbers} - known
    if extra:
        use = "score it" if role == "test file" else "sample them"
        raise ValueError(f"the {role} {path} holds {element_names(extra)}, which no starting structure has "
                         f"(they hold {element_names(known)}); the campaign's models could not {use}")


def check_start_labels(config, structures) -> list:
    """The frames of ``config.start_labels`` (every one labelled, with stress under NPT, no element the
    structures lack), their labels in the REF_ keys; ValueError in one line otherwise."""
    frames = read_structures(config.start_labels)
    check_labelled(frames, config.start_labels, stress=config.npt, role="start-labels file")
    check_test_elements(frames, config.start_labels, structures, role="start-labels file")
    return [with_reference_labels(frame, index) for index, frame in enumerate(frames)]


def _check_oracle_stress(factory) -> None:
    calculator = factory()
    properties = getattr(calculator, "implemented_properties", None)
    if properties is not None and "stress" not in properties:
        raise ValueError(f"the oracle {type(calculator).__name__} gives no stress, which an NPT campaign "
                         "(--pressure) labels and trains on")


def check_model(path, trusted: bool, structures) -> None:
    """ValueError unless the model at ``path`` is readable (pickles only if ``trusted``) and knows every
    element of ``structures``; returns the atomic numbers it knows."""
    check_readable(path, trusted, role="model")
    model = load_mace(path, trusted=trusted)
    known = {int(z) for z in model.atomic_numbers}
    needed = {int(z) for atoms in structures for z in atoms.numbers}
    missing = sorted(needed - known)
    if missing:
        raise ValueError(f"the model {path} does not know {element_names(missing)} (it knows {element_names(known)})")
    return known
