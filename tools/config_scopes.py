"""Opt-in start-up file for the config scopes, for tools that read a config before importing us.

    python tools/config_scopes.py --install-pth   # writes mmseg_mctformer_config_scopes.pth
    python tools/config_scopes.py --remove-pth
    python tools/config_scopes.py                 # says whether it is installed

Our tools (and any code that runs ``import mmseg_mctformer`` first) need none of this. MMSeg's own
``tools/train.py`` reads the ``_base_`` files before ``custom_imports``: a config inheriting
``mmseg_mctformer::...``, or on the OneDL forks any ``mmseg::...`` base (our DeepLab configs), needs
the scopes set at interpreter start-up. The file goes into this interpreter's site-packages (or
``--site-dir``); every interpreter of that environment then adds one ``sys.meta_path`` entry that
patches mmengine's config modules when they are imported
(:mod:`mmseg_mctformer.utils.config_scopes`, docs/en/installation.md).
"""
import argparse
import os.path as osp

from mmseg_mctformer.utils.config_scopes import (
    PTH_NAME,
    install_pth,
    pth_line,
    remove_pth,
    site_packages,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=f'Install or remove {PTH_NAME}: the mmseg:: and mmseg_mctformer:: config '
        'scopes at interpreter start-up, for tools that do not import mmseg_mctformer first')
    action = parser.add_mutually_exclusive_group()
    action.add_argument('--install-pth', action='store_true',
                        help=f'write {PTH_NAME} (replaced atomically if present)')
    action.add_argument('--remove-pth', action='store_true', help=f'remove {PTH_NAME}')
    parser.add_argument('--site-dir', default=None,
                        help='folder whose .pth files Python runs at start-up '
                        '(default: this interpreter\'s site-packages)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    site_dir = args.site_dir or site_packages()
    if args.install_pth:
        print(f'wrote {install_pth(site_dir)}')
    elif args.remove_pth:
        removed = remove_pth(site_dir)
        print(f'removed {removed}' if removed else f'no {PTH_NAME} in {site_dir}')
    else:
        path = osp.join(site_dir, PTH_NAME)
        if not osp.isfile(path):
            print(f'not installed: {path} does not exist')
        else:
            with open(path, encoding='ascii', errors='replace') as f:
                current = f.read() == pth_line()
            print(f'installed: {path}' + ('' if current else
                                          ' (it loads another copy of the plugin: '
                                          'run --install-pth to point it at this one)'))


if __name__ == '__main__':
    main()
