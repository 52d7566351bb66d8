from pathlib import Path

import pytest

from wishes import settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("setting", settings.SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_documented_in_the_readme(setting):
    assert f"`{setting.name}`" in README


def test_unknown_setting_is_refused_so_a_typo_is_not_silently_ignored():
    with pytest.raises(settings.SettingsError, match="WISHES_DATADIR"):
        settings.load({"WISHES_DATADIR": "/tmp/x"})


def test_bad_value_is_refused_with_the_settings_name():
    with pytest.raises(settings.SettingsError, match="WISHES_KIOSK_IDLE_SECONDS"):
        settings.load({"WISHES_KIOSK_IDLE_SECONDS": "soon"})


def test_environment_values_are_parsed():
    values = settings.load({"WISHES_KIOSK_IDLE_SECONDS": "120", "WISHES_DEMO": "yes"})
    assert values["WISHES_KIOSK_IDLE_SECONDS"] == 120 and values["WISHES_DEMO"] is True


def test_every_command_is_documented_in_the_readme(app):
    ours = {"init-db", "demo", "serve", "route", "train", "evaluate"}
    assert ours <= set(app.cli.commands)
    for name in app.cli.commands:
        assert f"`wishes {name}" in README, name
