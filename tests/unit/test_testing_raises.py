import pytest

from agentree.testing import raises_one


def test_bare():
    with raises_one(ValueError) as info:
        raise ValueError("x")
    assert str(info.value) == "x"


def test_group():
    with raises_one(KeyError) as info:
        raise BaseExceptionGroup("g", [ExceptionGroup("h", [KeyError(1)])])
    assert info.value.args == (1,)


def test_two():
    with pytest.raises(AssertionError), raises_one(KeyError):
        raise ExceptionGroup("h", [KeyError(1), KeyError(2)])


def test_none():
    with pytest.raises(AssertionError), raises_one(KeyError):
        pass
