"""Both paths of each function of mmseg_mctformer.utils.compat, on whichever stack runs the tests
(the path of the installed PyTorch / MMSeg, and the other one forced)."""
import collections

import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.utils import digit_version
from torch import nn

from mmseg_mctformer.utils import compat
from mmseg_mctformer.utils.weight_converters import (
    TRAINING_CHECKPOINT_GLOBALS,
    load_torch_checkpoint,
)

TORCH = digit_version(torch.__version__)


def test_fused_adamw_on_a_cpu_from_torch_2_4():
    assert compat.fused_optimizer_supported(torch.optim.AdamW, 'cpu') == (TORCH >= (2, 4))
    assert not compat.fused_optimizer_supported(torch.optim.AdamW, 'no-such-device')


class _Counter(nn.Linear):
    def __init__(self):
        super().__init__(2, 2)
        self.calls = []


@pytest.mark.parametrize('public', [True, False])
def test_load_state_dict_pre_hook_gets_the_module_first(public, monkeypatch):
    module = _Counter()
    if not public:  # PyTorch < 2.2 has only the private method
        monkeypatch.setattr(module, 'register_load_state_dict_pre_hook', None, raising=False)
    handle = compat.register_load_state_dict_pre_hook(
        module, lambda mod, state, prefix, *rest: mod.calls.append(sorted(state)))
    module.load_state_dict(nn.Linear(2, 2).state_dict())
    assert module.calls == [['bias', 'weight']]
    handle.remove()
    module.load_state_dict(nn.Linear(2, 2).state_dict())
    assert len(module.calls) == 1


def test_channel_conversion_reads_either_attribute():
    fork, upstream = type('Fork', (), {})(), type('Upstream', (), {})()
    fork._channel_conversion, upstream.channel_conversion = True, False
    assert compat.channel_conversion(fork) is True
    assert compat.channel_conversion(upstream) is False
    with pytest.raises(AttributeError, match='object has neither `_channel_conversion`'):
        compat.channel_conversion(object())


def test_mmseg_preprocessor_attribute_is_read():
    from mmseg.models.data_preprocessor import SegDataPreProcessor
    assert compat.channel_conversion(SegDataPreProcessor(bgr_to_rgb=True)) is True
    assert compat.channel_conversion(SegDataPreProcessor()) is False


def _training_checkpoint(path):
    buffer = HistoryBuffer()
    buffer.update(1.0)
    torch.save(dict(state_dict=collections.OrderedDict(w=torch.ones(2)),
                    message_hub=dict(log_scalars={'loss': buffer})), path)
    return path


@pytest.fixture
def no_allow_list(monkeypatch):
    """PyTorch < 2.5: no get_unsafe_globals_in_checkpoint / safe_globals."""
    for name in ('get_unsafe_globals_in_checkpoint', 'safe_globals'):
        monkeypatch.delattr(torch.serialization, name, raising=False)


def test_checkpoint_scan_finds_the_training_objects(tmp_path, no_allow_list):
    path = _training_checkpoint(str(tmp_path / 'epoch_1.pth'))
    names = compat.unsafe_globals_in_checkpoint(path)
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in names
    assert not any(n.startswith('torch._utils') for n in names)  # the default allow-list
    assert set(names) <= set(TRAINING_CHECKPOINT_GLOBALS), names


@pytest.mark.skipif(not hasattr(torch.serialization, 'get_unsafe_globals_in_checkpoint'),
                    reason='torch < 2.5 has no get_unsafe_globals_in_checkpoint to compare with')
def test_checkpoint_scan_agrees_with_torch(tmp_path, monkeypatch):
    path = _training_checkpoint(str(tmp_path / 'epoch_1.pth'))
    expected = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    monkeypatch.delattr(torch.serialization, 'get_unsafe_globals_in_checkpoint')
    assert sorted(compat.unsafe_globals_in_checkpoint(path)) == sorted(expected)


@pytest.mark.parametrize('allow_list', [True, False])
def test_training_checkpoint_loads_with_the_allowed_objects(tmp_path, monkeypatch, allow_list):
    if not allow_list:
        for name in ('get_unsafe_globals_in_checkpoint', 'safe_globals'):
            monkeypatch.delattr(torch.serialization, name, raising=False)
    path = _training_checkpoint(str(tmp_path / 'epoch_1.pth'))
    ckpt = load_torch_checkpoint(path)
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(2))
    assert ckpt['message_hub']['log_scalars']['loss'].current() == 1.0


class Unknown:  # a global outside every allow-list
    pass


def test_fallback_load_refuses_other_objects(tmp_path, no_allow_list):
    path = str(tmp_path / 'other.pth')
    torch.save(dict(obj=Unknown()), path)
    with pytest.raises(RuntimeError, match=r"other.pth.*outside the allow-list.*Unknown"):
        compat.load_with_allowed_globals(path, [])
    with pytest.raises(RuntimeError, match='no data.pkl'):
        bad = tmp_path / 'bad.pth'
        import zipfile
        with zipfile.ZipFile(bad, 'w') as z:
            z.writestr('x/other.txt', 'x')
        compat.unsafe_globals_in_checkpoint(str(bad))
