"""The names that moved from ``mmseg_mctformer.apis`` to ``cli`` / ``pipeline`` still import from
``apis``: the same objects, with one deprecation message a process per name."""
import pytest

import mmseg_mctformer.apis as apis
from mmseg_mctformer import cli, pipeline
from mmseg_mctformer.utils import console


@pytest.fixture
def log(monkeypatch):
    """The deprecation messages printed, with a fresh once-a-process memory."""
    messages = []
    monkeypatch.setattr(console, '_LOGGED_ONCE', set())
    monkeypatch.setattr(console, 'print_log', lambda msg, **kwargs: messages.append(msg))
    return messages


def test_old_imports_give_the_moved_objects_and_warn_once(log):
    from mmseg_mctformer.apis import evaluate_seeds
    assert evaluate_seeds is cli.evaluate_seeds
    assert evaluate_seeds.__module__ == 'mmseg_mctformer.cli.seed_tools'
    from mmseg_mctformer.apis import WSSSPipeline
    assert WSSSPipeline is pipeline.WSSSPipeline
    assert WSSSPipeline.__module__ == 'mmseg_mctformer.pipeline.pipeline'
    assert len(log) == 2
    assert 'mmseg_mctformer.apis.evaluate_seeds is deprecated' in log[0]
    assert '"from mmseg_mctformer.cli import evaluate_seeds"' in log[0]
    assert '"from mmseg_mctformer.pipeline import WSSSPipeline"' in log[1]
    # a second import of the same names: the same objects, no second message
    from mmseg_mctformer.apis import WSSSPipeline as again
    from mmseg_mctformer.apis import evaluate_seeds as seeds_again
    assert again is WSSSPipeline and seeds_again is evaluate_seeds
    assert len(log) == 2


def test_every_moved_name_resolves_and_apis_exports_inference_only(log):
    assert apis.__all__ == ['inference_seeds']
    for name, package in apis.MOVED_NAMES.items():
        assert getattr(apis, name) is getattr(cli if package.endswith('.cli') else pipeline, name)
    assert len(log) == len(apis.MOVED_NAMES)
    with pytest.raises(AttributeError, match="'mmseg_mctformer.apis' has no attribute 'nope'"):
        _ = apis.nope
    assert len(log) == len(apis.MOVED_NAMES)
