"""The OpenMMLab packages are checked at import: clear errors for what is missing or too old."""
import importlib.util

import pytest

from mmseg_mctformer import stack


def test_installed_stack_is_one_of_the_supported_distributions():
    found = stack.check_stack()
    assert set(found) == {'mmengine', 'mmcv', 'mmseg', 'mmpretrain'}
    for name, (dist, version) in found.items():
        assert dist in stack.OPENMMLAB_DISTRIBUTIONS[name]
        assert stack.parse_version(version) >= stack.parse_version(stack.SUPPORTED[name][0])


def test_missing_package_names_both_distributions():
    with pytest.raises(ImportError, match=r'needs `mmseg` \(mmsegmentation or '
                                          r'onedl-mmsegmentation >= 1\.2\.2\), none is installed'):
        stack.check_openmmlab('mmseg', found={})


def test_too_old_package_names_the_version_seen_and_expected():
    with pytest.raises(ImportError, match=r'needs mmengine >= 0\.10\.7 for `mmengine`, found '
                                          r'mmengine==0\.10\.3'):
        stack.check_openmmlab('mmengine', found={'mmengine': '0.10.3'})


def test_untested_newer_version_and_two_owners_warn():
    with pytest.warns(UserWarning, match=r'tested with `mmpretrain` < 1\.4, found '
                                         r'onedl-mmpretrain==1\.4\.0'):
        assert stack.check_openmmlab('mmpretrain', found={'onedl-mmpretrain': '1.4.0'}) == (
            'onedl-mmpretrain', '1.4.0')
    with pytest.warns(UserWarning, match=r"\['mmcv', 'mmcv-lite'\] are all installed"):
        stack.check_openmmlab('mmcv', found={'mmcv': '2.1.0', 'mmcv-lite': '2.2.0'})


def test_upstream_mmseg_without_compiled_ops_is_refused(monkeypatch):
    versions = dict(mmengine={'mmengine': '0.10.7'}, mmcv={'mmcv-lite': '2.1.0'},
                    mmseg={'mmsegmentation': '1.2.2'}, mmpretrain={'mmpretrain': '1.2.0'})
    monkeypatch.setattr(stack, 'installed_distributions', versions.__getitem__)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'mmcv._ext' else find_spec(name, *a))
    with pytest.raises(ImportError, match=r'mmsegmentation==1\.2\.2 imports mmcv\'s compiled ops, '
                                          r'and mmcv-lite==2\.1\.0 has none'):
        stack.check_stack()


def test_parse_version():
    assert stack.parse_version('1.2.2rc1') == (1, 2, 2)
    with pytest.raises(ValueError, match="'dev' does not start with a version number"):
        stack.parse_version('dev')
