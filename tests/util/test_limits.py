"""The one memory limit: its environment variable and its messages."""
import pytest

from routerrec.util.limits import MAX_BYTES_ENV, check_bytes, format_bytes, max_array_bytes


def test_the_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(MAX_BYTES_ENV, raising=False)
    assert max_array_bytes() == 2 * 1024**3
    monkeypatch.setenv(MAX_BYTES_ENV, "8e9")
    assert max_array_bytes() == 8_000_000_000
    for bad in ("lots", "0", "-5", "nan", "inf"):
        monkeypatch.setenv(MAX_BYTES_ENV, bad)
        with pytest.raises(ValueError, match=f"{MAX_BYTES_ENV}='{bad}': expected a number"):
            max_array_bytes()


def test_check_bytes_says_what_and_what_to_do(monkeypatch):
    monkeypatch.setenv(MAX_BYTES_ENV, str(1024**3))
    check_bytes(1024**3, "predict")
    with pytest.raises(MemoryError, match=r"^predict would need 373.0 GiB, above the limit of "
                       rf"1.0 GiB \(raise it with {MAX_BYTES_ENV}\); use --top$"):
        check_bytes(373 * 1024**3, "predict", advice="use --top", error=MemoryError)
    assert [format_bytes(n) for n in (0, 1023, 1536, 5 * 1024**5)] == \
        ["0 B", "1023 B", "1.5 KiB", "5.0 PiB"]
