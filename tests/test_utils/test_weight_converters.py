import importlib.util
import os
import os.path as osp
import pickle

import pytest
import torch

from mmseg_mctformer.models.backbones import MultiClassTokenViT
from mmseg_mctformer.utils import (
    check_layout,
    convert_checkpoint,
    convert_deit,
    convert_hf_dinov2,
    convert_mctformer,
    convert_mmpretrain,
    detect_format,
    load_torch_checkpoint,
    to_mmpretrain,
)

D, F, L = 16, 32, 2
TINY = dict(embed_dims=D, num_layers=L, num_heads=2, feedforward_channels=F, patch_size=8,
            pos_grid=2)


def tiny(layer_scale=0., num_classes=3, **kwargs):
    return MultiClassTokenViT(arch=dict(TINY, layer_scale=layer_scale), num_classes=num_classes,
                              drop_path_rate=0., **kwargs).eval()


def randn(*shape):
    return torch.randn(*shape)


def timm_state(layer_scale=False, distilled=False):
    """A hand-made DeiT/timm state dict of the tiny arch (grid 2 x 2)."""
    extra = 2 if distilled else 1
    s = {
        'cls_token': randn(1, 1, D), 'pos_embed': randn(1, extra + 4, D),
        'patch_embed.proj.weight': randn(D, 3, 8, 8), 'patch_embed.proj.bias': randn(D),
        'norm.weight': randn(D), 'norm.bias': randn(D),
        'head.weight': randn(10, D), 'head.bias': randn(10),
    }
    if distilled:
        s['dist_token'] = randn(1, 1, D)
        s['head_dist.weight'] = randn(10, D)
    for i in range(L):
        b = f'blocks.{i}.'
        s.update({
            b + 'norm1.weight': randn(D), b + 'norm1.bias': randn(D),
            b + 'attn.qkv.weight': randn(3 * D, D), b + 'attn.qkv.bias': randn(3 * D),
            b + 'attn.proj.weight': randn(D, D), b + 'attn.proj.bias': randn(D),
            b + 'norm2.weight': randn(D), b + 'norm2.bias': randn(D),
            b + 'mlp.fc1.weight': randn(F, D), b + 'mlp.fc1.bias': randn(F),
            b + 'mlp.fc2.weight': randn(D, F), b + 'mlp.fc2.bias': randn(D),
        })
        if layer_scale:
            s[b + 'ls1.gamma'] = randn(D)
            s[b + 'ls2.gamma'] = randn(D)
    return s


def hf_state(prefix=''):
    """A hand-made Hugging Face Dinov2Model state dict of the tiny arch."""
    s = {
        'embeddings.cls_token': randn(1, 1, D), 'embeddings.mask_token': randn(1, D),
        'embeddings.position_embeddings': randn(1, 1 + 4, D),
        'embeddings.patch_embeddings.projection.weight': randn(D, 3, 8, 8),
        'embeddings.patch_embeddings.projection.bias': randn(D),
        'layernorm.weight': randn(D), 'layernorm.bias': randn(D),
    }
    for i in range(L):
        b = f'encoder.layer.{i}.'
        for name in ('query', 'key', 'value'):
            s[b + f'attention.attention.{name}.weight'] = randn(D, D)
            s[b + f'attention.attention.{name}.bias'] = randn(D)
        s.update({
            b + 'norm1.weight': randn(D), b + 'norm1.bias': randn(D),
            b + 'attention.output.dense.weight': randn(D, D),
            b + 'attention.output.dense.bias': randn(D),
            b + 'layer_scale1.lambda1': randn(D), b + 'layer_scale2.lambda1': randn(D),
            b + 'norm2.weight': randn(D), b + 'norm2.bias': randn(D),
            b + 'mlp.fc1.weight': randn(F, D), b + 'mlp.fc1.bias': randn(F),
            b + 'mlp.fc2.weight': randn(D, F), b + 'mlp.fc2.bias': randn(D),
        })
    return {prefix + k: v for k, v in s.items()}


def test_deit_round_trip():
    src = timm_state(layer_scale=True)
    out = convert_deit({'model': src})
    assert 'head.weight' not in out and not any(k.startswith('blocks') for k in out)
    model = tiny(layer_scale=1e-5, num_classes=1)
    result = model.load_state_dict(out, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    torch.testing.assert_close(model.cls_token, src['cls_token'])
    torch.testing.assert_close(model.pos_embed, src['pos_embed'])
    torch.testing.assert_close(model.patch_embed.projection.weight, src['patch_embed.proj.weight'])
    torch.testing.assert_close(model.ln1.bias, src['norm.bias'])
    layer = model.layers[1]
    torch.testing.assert_close(layer.ln1.weight, src['blocks.1.norm1.weight'])
    torch.testing.assert_close(layer.attn.qkv.weight, src['blocks.1.attn.qkv.weight'])
    torch.testing.assert_close(layer.attn.proj.bias, src['blocks.1.attn.proj.bias'])
    torch.testing.assert_close(layer.ln2.bias, src['blocks.1.norm2.bias'])
    torch.testing.assert_close(layer.ffn.layers[0][0].weight, src['blocks.1.mlp.fc1.weight'])
    torch.testing.assert_close(layer.ffn.layers[1].weight, src['blocks.1.mlp.fc2.weight'])
    torch.testing.assert_close(layer.gamma1.weight, src['blocks.1.ls1.gamma'])
    torch.testing.assert_close(layer.ffn.gamma2.weight, src['blocks.1.ls2.gamma'])


def test_deit_distilled_drops_dist_token():
    src = timm_state(distilled=True)
    out = convert_deit(src)
    assert 'dist_token' not in out
    expected = torch.cat([src['pos_embed'][:, :1], src['pos_embed'][:, 2:]], dim=1)
    torch.testing.assert_close(out['pos_embed'], expected)
    assert not tiny(num_classes=1).load_state_dict(out, strict=True).missing_keys


def test_mmpretrain_round_trip_outputs():
    from mmpretrain.models import VisionTransformer
    torch.manual_seed(0)
    arch = dict(embed_dims=D, num_layers=L, num_heads=2, feedforward_channels=F)
    theirs = VisionTransformer(arch=arch, img_size=16, patch_size=8, out_type='raw',
                               out_indices=-1, final_norm=True, layer_scale_init_value=0.5)
    theirs.init_weights()
    for p in theirs.parameters():
        p.data.add_(torch.randn_like(p) * 0.1)
    theirs.eval()
    ckpt = {'state_dict': {**{'backbone.' + k: v for k, v in theirs.state_dict().items()},
                           'head.fc.weight': randn(10, D)}}
    assert detect_format(ckpt) == 'mmpretrain'
    out = convert_mmpretrain(ckpt)
    assert 'layers.0.gamma1.weight' in out and 'head.fc.weight' not in out
    ours = tiny(layer_scale=0.5, num_classes=1, final_norm=True)
    assert not ours.load_state_dict(out, strict=True).missing_keys
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        ref = theirs(x)[0]
        res = ours(x)
    torch.testing.assert_close(res.cls_token, ref[:, :1], atol=1e-5, rtol=0)
    torch.testing.assert_close(res.patch_tokens, ref[:, 1:].transpose(1, 2).reshape(2, D, 2, 2),
                               atol=1e-5, rtol=0)
    # and back: the exact mmpretrain state dict
    back = to_mmpretrain(out)
    assert set(back) == set(theirs.state_dict())
    assert all(torch.equal(back[k], v) for k, v in theirs.state_dict().items())
    # our own layout converts to itself
    own = tiny(layer_scale=0.5).state_dict()
    again = convert_mmpretrain(own)
    assert set(again) == set(own)
    assert all(again[k] is own[k] for k in own)


def test_hf_dinov2_round_trip():
    src = hf_state(prefix='dinov2.')
    src['classifier.weight'] = randn(10, D)
    assert detect_format(src) == 'hf-dinov2'
    out = convert_hf_dinov2(src)
    assert 'mask_token' not in ' '.join(out) and 'classifier.weight' not in out
    p = 'dinov2.encoder.layer.1.'
    torch.testing.assert_close(out['layers.1.attn.qkv.weight'], torch.cat(
        [src[p + f'attention.attention.{n}.weight'] for n in ('query', 'key', 'value')]))
    torch.testing.assert_close(out['layers.1.attn.qkv.bias'], torch.cat(
        [src[p + f'attention.attention.{n}.bias'] for n in ('query', 'key', 'value')]))
    model = tiny(layer_scale=1e-5, num_classes=2)
    result = model.load_state_dict(out, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    torch.testing.assert_close(model.cls_token, src['dinov2.embeddings.cls_token'].expand(1, 2, D))
    torch.testing.assert_close(model.pos_embed, src['dinov2.embeddings.position_embeddings'])
    torch.testing.assert_close(model.layers[1].gamma1.weight, src[p + 'layer_scale1.lambda1'])
    torch.testing.assert_close(model.layers[1].ffn.gamma2.weight, src[p + 'layer_scale2.lambda1'])
    torch.testing.assert_close(model.layers[1].attn.proj.weight,
                               src[p + 'attention.output.dense.weight'])
    torch.testing.assert_close(model.layers[1].ffn.layers[0][0].bias, src[p + 'mlp.fc1.bias'])
    torch.testing.assert_close(model.ln1.weight, src['dinov2.layernorm.weight'])


def test_hf_dinov2_missing_value_raises():
    src = hf_state()
    del src['encoder.layer.0.attention.attention.value.weight']
    with pytest.raises(KeyError, match=r"layer 0 has attention.weight tensors for \['key', "
                       r"'query'\]"):
        convert_hf_dinov2(src)


def test_detect_format():
    assert detect_format({'model': timm_state()}) == 'deit'
    assert detect_format(hf_state()) == 'hf-dinov2'
    assert detect_format(tiny().state_dict()) == 'mmpretrain'
    with pytest.raises(ValueError, match='cannot recognise'):
        detect_format({'conv1.weight': torch.zeros(1)})


def test_wrong_embedding_size_is_refused():
    src = timm_state()
    src['blocks.1.attn.proj.weight'] = randn(D, 8)
    with pytest.raises(ValueError, match=r"'layers.1.attn.proj.weight' has shape \(16, 8\), "
                       r'expected \(16, 16\)'):
        convert_checkpoint(src)
    with pytest.raises(ValueError, match=r"'cls_token' has shape \(1, 1, 16\), expected "
                       r'\(1, n, 32\)'):
        convert_checkpoint(timm_state(), embed_dims=32)
    assert check_layout(convert_deit(timm_state())) == D
    with pytest.raises(ValueError, match='unknown src_format'):
        convert_checkpoint(timm_state(), src_format='timm')


def _load_tool():
    path = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'convert_weights.py')
    spec = importlib.util.spec_from_file_location('convert_weights_tool', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_convert_weights_tool(tmp_path):
    src = timm_state()
    torch.save({'model': src}, tmp_path / 'deit.pth')
    dst = tmp_path / 'out' / 'ours.pth'
    _load_tool().main([str(tmp_path / 'deit.pth'), str(dst), '--src-format', 'auto'])
    assert os.listdir(tmp_path / 'out') == ['ours.pth']  # no temporary file left
    ckpt = torch.load(dst, weights_only=True)
    assert ckpt['meta']['src_format'] == 'auto'
    model = tiny()
    assert not model.load_state_dict(ckpt['state_dict'], strict=True).missing_keys
    torch.testing.assert_close(model.cls_token, src['cls_token'].expand(1, 3, D))
    with pytest.raises(SystemExit):
        _load_tool().parse_args([str(dst)])
    with pytest.raises(FileNotFoundError, match='no weight file'):
        convert_checkpoint(str(tmp_path / 'missing.pth'))


class NotAllowed:
    """A class outside the weights-only allow-list (pickled by reference)."""


def _training_checkpoint(state):
    """A checkpoint as MMEngine's CheckpointHook writes it: message hub, numpy scalars, meta."""
    import numpy as np
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('test_weight_converters')
    hub.update_scalar('train/lr', 0.1)
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_info('iter', np.int64(3))
    return {'meta': {'epoch': 1, 'seed': np.int64(0), 'dataset_meta': {'classes': ('a', 'b')}},
            'state_dict': {f'backbone.{k}': v for k, v in state.items()},
            'message_hub': hub.state_dict(), 'optimizer': {'state': {}, 'param_groups': []}}


def test_training_checkpoint_loads_with_weights_only(tmp_path):
    model = tiny()
    path = str(tmp_path / 'epoch_1.pth')
    torch.save(_training_checkpoint(model.state_dict()), path)
    with pytest.raises(pickle.UnpicklingError):  # a plain weights-only load
        torch.load(path, weights_only=True)
    ckpt = load_torch_checkpoint(path)
    assert ckpt['meta']['epoch'] == 1
    state = convert_checkpoint(path)  # the backbone of our own segmentor
    fresh = tiny()
    assert not fresh.load_state_dict(state, strict=True).missing_keys
    torch.testing.assert_close(fresh.layers[1].attn.qkv.weight, model.layers[1].attn.qkv.weight)


def test_unknown_objects_need_allow_unsafe(tmp_path):
    path = str(tmp_path / 'odd.pth')
    torch.save({'state_dict': tiny().state_dict(), 'extra': NotAllowed()}, path)
    with pytest.raises(RuntimeError, match=r"odd.pth.*NotAllowed.*--unsafe-load"):
        load_torch_checkpoint(path)
    with pytest.warns(UserWarning, match='weights_only=False'):
        ckpt = load_torch_checkpoint(path, allow_unsafe=True)
    assert isinstance(ckpt['extra'], NotAllowed)


def _authors_v1(fc):
    """A hand-made state dict of the authors' MCTformerV1 (C = 3, tiny arch, grid 2 x 2)."""
    src = timm_state()
    src['cls_token'] = randn(1, 3, D)
    src['pos_embed'] = randn(1, 3 + 4, D)
    if fc:  # last_opt='fc': grouped Conv1d, one linear unit per class token
        src['head.weight'], src['head.bias'] = randn(3, 1, D), randn(3)
    else:  # last_opt='average': timm's Linear head, never read by the forward
        src['head.weight'], src['head.bias'] = randn(3, D), randn(3)
    return src


@pytest.mark.parametrize('fc', [True, False])
def test_authors_v1_checkpoint(fc):
    from mmseg_mctformer.models.segmentors import MCTformer
    src = _authors_v1(fc)
    assert detect_format({'model': src}) == 'mctformer-v1'
    state, info = convert_mctformer({'model': src})
    assert info['cls_head_pool'] == ('linear' if fc else 'avg') and not info['cam_head']
    model = MCTformer(
        backbone=dict(type='MultiClassTokenViT', arch=dict(TINY), num_classes=3,
                      cls_pos_embed='per_class', drop_path_rate=0.),
        cls_head=dict(type='ClassTokenPoolHead', num_classes=3, in_channels=D,
                      pool=info['cls_head_pool']),
        test_cfg=dict(map_type='mct_affinity', top_k=2))
    model.load_state_dict(state, strict=True)
    torch.testing.assert_close(model.backbone.pos_embed, src['pos_embed'])
    if fc:
        x = torch.randn(2, 3, D)
        conv = torch.nn.functional.conv1d(x, src['head.weight'], src['head.bias'], groups=3)
        torch.testing.assert_close(model.cls_head(x), conv[..., 0])


def test_convert_weights_tool_on_authors_checkpoint(tmp_path, capsys):
    """tools/convert_weights.py on a recorded checkpoint of the authors' MCTformer+ code."""
    rec = torch.load(osp.join(osp.dirname(osp.dirname(__file__)), 'data', 'authors_parity',
                              'mctformer_plus_448.pt'), weights_only=True)
    src = {'model': {k: v.float() for k, v in rec['checkpoint']['model'].items()}, 'epoch': 44}
    torch.save(src, tmp_path / 'checkpoint.pth')
    dst = tmp_path / 'converted.pth'
    _load_tool().main([str(tmp_path / 'checkpoint.pth'), str(dst)])
    assert "cls_pos_embed='per_class'" in capsys.readouterr().out
    state = load_torch_checkpoint(str(dst))['state_dict']
    assert state['backbone.pos_embed'].shape == (1, 3 + 28 * 28, 12)
    torch.testing.assert_close(state['cam_head.conv.weight'], src['model']['head.weight'])
    torch.testing.assert_close(state['backbone.pos_embed'][:, 3:], src['model']['pos_embed_pat'])


def test_authors_checkpoint_with_dist_token_keeps_position_table():
    """A `dist_token` beside the authors' (1, C + G*G, D) table has no position entry: only the
    token is dropped (and named), the class tokens' entries stay."""
    src = _authors_v1(fc=True)
    src['dist_token'] = randn(1, 1, D)
    src['odd.extra'] = randn(2)
    dropped = []
    state = convert_checkpoint({'model': src}, dropped=dropped)
    torch.testing.assert_close(state['backbone.pos_embed'], src['pos_embed'])
    assert any(d.startswith('dist_token (1, 1, 16) (no pos_embed entry)') for d in dropped)
    assert 'odd.extra' in dropped
    # a distilled table (C + 1 + G*G entries): entry C (after the C class tokens) goes
    src['pos_embed'] = randn(1, 3 + 1 + 4, D)
    state = convert_checkpoint({'model': src})
    expected = torch.cat([src['pos_embed'][:, :3], src['pos_embed'][:, 4:]], dim=1)
    torch.testing.assert_close(state['backbone.pos_embed'], expected)
    src['pos_embed'] = randn(1, 3 + 6, D)  # neither layout
    with pytest.raises(ValueError, match=r'the state dict.*dist_token.*\(1, 9, 16\)'):
        convert_checkpoint({'model': src})


def test_convert_weights_tool_names_dropped_keys_and_refuses_segmentors(tmp_path, capsys):
    src = timm_state(distilled=True)
    torch.save({'model': src}, tmp_path / 'deit.pth')
    _load_tool().main([str(tmp_path / 'deit.pth'), str(tmp_path / 'ours.pth')])
    out = capsys.readouterr().out
    assert '4 source keys not converted' in out
    for key in ('head.weight', 'head.bias', 'head_dist.weight', 'dist_token'):
        assert key in out
    meta = torch.load(tmp_path / 'ours.pth', weights_only=True)['meta']
    assert len(meta['dropped_keys']) == 4
    # a DeepLab checkpoint whose context path is a ViT: another model, the file named
    seg = {f'backbone.context_path.{k}': v for k, v in tiny().state_dict().items()}
    seg['decode_head.conv_seg.weight'] = randn(6, 8, 1, 1)
    torch.save({'state_dict': seg}, tmp_path / 'deeplab.pth')
    with pytest.raises(SystemExit, match=r"deeplab.pth.*under \['backbone.context_path.'\].*"
                       'segmentor'):
        _load_tool().main([str(tmp_path / 'deeplab.pth'), str(tmp_path / 'x.pth')])
    torch.save({'state_dict': {'decode_head.conv_seg.weight': randn(6, 8, 1, 1)}},
               tmp_path / 'resnet.pth')
    with pytest.raises(SystemExit, match='resnet.pth.*cannot recognise'):
        _load_tool().main([str(tmp_path / 'resnet.pth'), str(tmp_path / 'x.pth')])
    assert not (tmp_path / 'x.pth').exists()
