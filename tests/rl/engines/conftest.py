import pytest

from tests.rl.toy_policy_dir import save_toy_policy


@pytest.fixture(scope="package")
def policy_dir(tmp_path_factory):
    """A tiny policy that answers \\boxed{d} with a random digit: a saved model directory."""
    return save_toy_policy(tmp_path_factory.mktemp("engines"))
