"""docs/al.md's table of campaign settings agrees with CampaignConfig: every setting is listed, with its default."""
import dataclasses
import re
from pathlib import Path

from skmd.al.config import CampaignConfig

DOCS = Path(__file__).resolve().parents[1] / "docs" / "al.md"
#: settings whose default the table describes in words instead of a value
DESCRIBED = {"structures": "–", "model": "train one", "trust_model": None, "test": "held out",
             "threads": "$SKMD_THREADS", "ubmd_tau_stress": "τ", "out": None, "extra": None}


def _table() -> dict:
    """{field: the default cell's text for it} from the table's rows (several fields may share a row)."""
    rows = {}
    for line in DOCS.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("`"):
            continue
        fields = re.findall(r"`([A-Za-z_0-9]+)`", cells[0])
        if not fields or not all(field in CampaignConfig.__dataclass_fields__ for field in fields):
            continue
        defaults = [d.strip() for d in cells[2].split(",")] if len(fields) > 1 else [cells[2]]
        if len(fields) > 1 and fields[0] == "samplers":
            defaults = [cells[2]]
        for index, field in enumerate(fields):
            rows[field] = defaults[index] if len(defaults) == len(fields) else cells[2]
    return rows


def _matches(default, text: str) -> bool:
    text = text.replace("`", "").strip()
    if default is None:
        return text.startswith("none") or text.startswith("held out") or text.startswith("train one")
    if isinstance(default, bool):
        return text.lower() in (str(default).lower(), "off" if not default else "on")
    if isinstance(default, (int, float)):
        number = re.match(r"-?[\d.]+", text)
        return number is not None and float(number.group()) == float(default)
    if isinstance(default, tuple):
        return text == ",".join(default)
    if isinstance(default, dict):
        return text == "{}" and not default
    return text.startswith(str(default))


def test_every_campaign_setting_is_in_the_table_with_its_default():
    table = _table()
    defaults = CampaignConfig()
    missing = [f.name for f in dataclasses.fields(CampaignConfig)
               if f.name not in table and f.name not in DESCRIBED]
    assert not missing, f"docs/al.md's settings table lacks {missing}"
    wrong = {}
    for name, text in table.items():
        if name in DESCRIBED:
            if DESCRIBED[name] is not None:
                assert text.replace("`", "").startswith(DESCRIBED[name]), (name, text)
            continue
        if not _matches(getattr(defaults, name), text):
            wrong[name] = (getattr(defaults, name), text)
    assert not wrong, f"docs/al.md gives other defaults than CampaignConfig: {wrong}"


# --- docs/alanine-dipeptide.md's table of the three ala2 presets ------------------------------------------------------

ALA2_DOCS = DOCS.parent / "alanine-dipeptide.md"
FINETUNE_WORDS = {"lora": "LoRA", "multihead": "multi-head", "full": "every weight"}


def _preset_columns() -> dict:
    """{row label: [cell per preset]} of the presets table (columns ala2, ala2-medium, ala2-full)."""
    lines = ALA2_DOCS.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| setting | `ala2` (`--quick`)"))
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_the_ala2_presets_table_agrees_with_the_preset_files():
    """Walkers, steps, labels, iterations, starting frames, epochs, h and the fine-tuning kind of each
    column are those of the shipped preset, so the table cannot drift from the YAML files again."""
    from skmd.al.config import make_config
    from skmd.al.presets import read_preset
    rows = _preset_columns()
    for column, name in enumerate(("ala2", "ala2-medium", "ala2-full")):
        config = make_config(read_preset(name), {})
        pairs = {"walkers / steps per walk": (config.walkers, config.steps),
                 "labels per iteration / iterations": (config.select, config.iterations),
                 "starting frames / surrogate epochs": (config.start_frames, config.surrogate_epochs)}
        for label, expected in pairs.items():
            assert tuple(float(v) for v in rows[label][column].split(" / ")) == expected, (name, label)
        assert sorted(s.strip() for s in rows["samplers"][column].split(",")) == sorted(config.samplers), name
        amplitude = rows["SKMD: T, Δt, γ, h, exploration share"][column].split(", ")[3]
        assert float(amplitude) == config.skmd_amplitude, name
        finetuning = rows["fine-tuning"][column]
        assert finetuning.startswith(FINETUNE_WORDS[config.finetune]), (name, finetuning)
        assert f"{config.finetune_epochs} epochs" in finetuning, name
