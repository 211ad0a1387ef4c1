import pytest

from reconciler.errors import ReconcilerError
from reconciler.quantity import QuantityError, canonical

CASES = [
    ("1000m", "1"),
    ("1024Mi", "1Gi"),
    ("0.5", "500m"),
    ("1.5", "1500m"),
    ("1000k", "1M"),
    ("0.1Gi", "107374182400m"),
    ("1536Mi", "1536Mi"),
    ("1.5Gi", "1536Mi"),
    ("0.5Ki", "512"),
    ("1e3", "1e3"),
    ("0", "0"),
    (2, "2"),
    (0.25, "250m"),
]


@pytest.mark.parametrize(("given", "expected"), CASES)
def test_canonical_matches_the_api_server(given, expected):
    assert canonical(given) == expected


@pytest.mark.parametrize("bad", ["", "1.2.3", "10 Gi", "Gi", "1Xi", "abc"])
def test_rejects_non_quantities(bad):
    with pytest.raises(QuantityError):
        canonical(bad)


def test_a_lone_e_is_the_exa_suffix_not_an_exponent():
    assert canonical("2E") == "2E"
    assert canonical("2e3") == "2e3"


@pytest.mark.parametrize("huge", ["1e30", "99999999999999999999999E"])
def test_out_of_range_is_a_quantity_error(huge):
    with pytest.raises(QuantityError, match="out of range"):
        canonical(huge)


def test_a_quantity_error_is_a_reconciler_error():
    assert issubclass(QuantityError, ReconcilerError)
