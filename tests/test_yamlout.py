import pytest
import yaml

from reconciler import yamlout
from reconciler.phase import Phase


@pytest.mark.parametrize(
    "value", ["1e234567", "12345678", "0x1f", "0o17", "1.5", ".5", ".inf", "c567cbc8", "true", "on"]
)
def test_strings_stay_strings_for_yaml_1_1_and_1_2_readers(value):
    text = yamlout.dump({"hash": value})
    assert yaml.safe_load(text) == {"hash": value}
    number_like = yamlout._YAML12_NUMBER.match(value) is not None
    assert text.startswith("hash: '") or not number_like


def test_a_phase_is_written_as_its_plain_string():
    text = yamlout.dump({"phase": Phase.BLOCKED, "steps": [{"phase": Phase.READY}]})
    assert text == "phase: Blocked\nsteps:\n- phase: Ready\n"
