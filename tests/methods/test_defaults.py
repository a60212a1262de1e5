import pytest

from wearfm.config import DEFAULT_ENCODERS, PretrainConfig
from wearfm.errors import ConfigError
from wearfm.methods import METHODS, list_methods
from wearfm.methods.base import Method, resolve_encoder


def test_every_builtin_method_takes_its_encoder_from_the_one_table():
    assert set(DEFAULT_ENCODERS) <= set(list_methods())
    for method, encoder in DEFAULT_ENCODERS.items():
        assert resolve_encoder(PretrainConfig(method=method)).encoder == encoder
    assert resolve_encoder(PretrainConfig(method="primus", encoder="resnet1d")).encoder == "resnet1d"


def test_a_method_outside_the_table_names_its_own_default_or_needs_encoder():
    class Own(Method):
        default_encoder = "patchtst"

    class NoDefault(Method):
        pass

    try:
        METHODS.register(Own, name="own-test-method")
        METHODS.register(NoDefault, name="nodefault-test-method")
        assert resolve_encoder(PretrainConfig(method="own-test-method")).encoder == "patchtst"
        with pytest.raises(ConfigError, match="--encoder"):
            resolve_encoder(PretrainConfig(method="nodefault-test-method"))
    finally:
        METHODS._entries.pop("own-test-method", None)
        METHODS._entries.pop("nodefault-test-method", None)
