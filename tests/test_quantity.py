import pytest

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
