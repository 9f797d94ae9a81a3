"""The commands of README.md and docs/: scripts and configs exist, configs load, flags parse.

Every ``shell`` / ``bash`` / ``sh`` block of the documentation is read line by line (``\\``
continuations joined). ``python SCRIPT ARGS`` with a script of this repository (``tools/``,
``benchmarks/``) or of the installed MMSeg (``$MMSEG_TOOLS/...``) must name an existing file whose
``parse_args`` accepts ``ARGS`` (no work is run); every ``configs/*.py`` named anywhere in a command
must exist and load with ``Config.fromfile``; ``make TARGET`` must be a Makefile target; shell
scripts must exist. ``python -c`` snippets are run for real (they are cheap), and ``python`` blocks
must compile. Relative links of the Markdown files must point at existing files.
"""
import contextlib
import functools
import glob
import importlib.util
import io
import os.path as osp
import re
import shlex
import subprocess
import sys

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOCS = sorted([osp.join(ROOT, 'README.md'), osp.join(ROOT, 'configs', 'mctformer', 'README.md')]
              + glob.glob(osp.join(ROOT, 'docs', '**', '*.md'), recursive=True))
SHELL_LANGS = ('shell', 'bash', 'sh')
FENCE = re.compile(r'^```(\w*)\s*\n(.*?)^```', re.M | re.S)
CONFIG = re.compile(r'(?<![\w./-])(configs/[\w./+-]+\.py)')
LINK = re.compile(r'\]\(([^)#\s]+)(?:#[^)]*)?\)')
#: Documentation pages written on other branches at the same time; they are checked like every
#: other page as soon as they exist.
def _rel(path):
    return osp.relpath(path, ROOT)


def blocks(lang_filter):
    """(doc, language, text) of every fenced block whose language passes ``lang_filter``."""
    for doc in DOCS:
        with open(doc, encoding='utf-8') as f:
            text = f.read()
        for match in FENCE.finditer(text):
            if lang_filter(match.group(1)):
                yield _rel(doc), match.group(1), match.group(2)


def shell_commands():
    """(doc, command line) of every shell block, continuations joined, comments dropped."""
    commands = []
    for doc, _, text in blocks(lambda lang: lang in SHELL_LANGS):
        for line in text.replace('\\\n', ' ').splitlines():
            line = line.strip()
            if line.startswith('$ '):  # a prompt
                line = line[2:]
            for part in re.split(r'\s(?:&&|\|\||;)\s', line):  # chained commands
                if part and not part.startswith('#'):
                    commands.append((doc, part.strip()))
    return commands


COMMANDS = shell_commands()


@functools.lru_cache(maxsize=None)
def mmseg_tools():
    import mmseg
    return osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools')


@functools.lru_cache(maxsize=None)
def load_script(path):
    """The module of a script, imported as ``python path`` would run it (its folder on sys.path)."""
    folder = osp.dirname(path)
    sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location(
            'docs_' + re.sub(r'\W', '_', _rel(path)), path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module


@functools.lru_cache(maxsize=None)
def load_config(path):
    return Config.fromfile(osp.join(ROOT, path))


@functools.lru_cache(maxsize=None)
def make_targets():
    with open(osp.join(ROOT, 'Makefile')) as f:
        return set(re.findall(r'^([\w.-]+):', f.read(), re.M))


#: argparse's own messages for arguments that do not parse; other ``parser.error`` calls check
#: values against the user's files (``--authors-repo`` must hold a checkout) and are not counted.
SYNTAX_ERRORS = re.compile(r'unrecognized arguments|the following arguments are required|'
                           r'invalid choice|expected (one|at least one) argument|invalid \w+ value|'
                           r'not allowed with argument|ambiguous option|give either|is required|'
                           r'expected (DST|SRC DST)')


def parse_script_args(script, args):
    """Parse ``args`` with the script's own parser; return its syntax error ('' when it parses)."""
    module = load_script(script)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            if 'argv' in module.parse_args.__code__.co_varnames:
                module.parse_args(args)
            else:  # MMSeg's converters read sys.argv
                saved, sys.argv = sys.argv, [script] + args
                try:
                    module.parse_args()
                finally:
                    sys.argv = saved
    except SystemExit as exc:
        message = err.getvalue()
        if exc.code and (SYNTAX_ERRORS.search(message) or not message):
            return message or f'exit {exc.code}'
    return ''


def check_command(doc, line):
    """Problems of one command line (empty when it is fine)."""
    problems = []
    tokens = shlex.split(line, comments=True)
    for i, token in enumerate(tokens):  # pipes and redirections end the command's arguments
        if token in ('|', '>', '>>', '2>&1', '&>', '<') or token.startswith(('>', '2>')):
            tokens = tokens[:i]
            break
    while tokens and re.match(r'^\w+=', tokens[0]):  # VAR=value prefixes
        if tokens[0].startswith('MMSEG_TOOLS=$('):
            return problems  # the substitution is run by test_python_c_snippets_run
        tokens = tokens[1:]
    if not tokens:
        return problems
    for config in CONFIG.findall(line):
        if not osp.isfile(osp.join(ROOT, config)):
            problems.append(f'{config} does not exist')
        else:
            try:
                load_config(config)
            except Exception as err:  # noqa: BLE001 (reported with the command)
                problems.append(f'{config} does not load: {err!r}')
    head = tokens[0]
    if head in ('python', 'python3') and len(tokens) > 1 and tokens[1].endswith('.py'):
        script = tokens[1].replace('$MMSEG_TOOLS', mmseg_tools())
        path = script if osp.isabs(script) else osp.join(ROOT, script)
        if not osp.isfile(path):
            problems.append(f'{tokens[1]} does not exist')
        else:
            error = parse_script_args(path, tokens[2:])
            if error:
                problems.append(f'{tokens[1]} refuses its arguments: {error.strip()[-300:]}')
    elif head.endswith('.sh'):
        if not osp.isfile(osp.join(ROOT, head)):
            problems.append(f'{head} does not exist')
    elif head == 'make':
        missing = [t for t in tokens[1:] if '=' not in t and t not in make_targets()]
        if missing:
            problems.append(f'make targets {missing} are not in the Makefile')
    return problems


def test_docs_have_commands():
    assert len(COMMANDS) > 40
    assert any(doc == 'README.md' for doc, _ in COMMANDS)


@pytest.mark.parametrize('doc', sorted({doc for doc, _ in COMMANDS}))
def test_commands_name_existing_scripts_and_configs_and_parse(doc):
    problems = []
    for where, line in COMMANDS:
        if where == doc:
            problems += [f'{line}\n    -> {p}' for p in check_command(where, line)]
    assert not problems, f'{doc}:\n' + '\n'.join(problems)


def test_check_catches_wrong_commands():
    assert check_command('x', 'python tools/train.py configs/mctformer_plus_voc.py') == []
    assert 'tools/nope.py does not exist' in check_command('x', 'python tools/nope.py')
    assert any('refuses its arguments' in p and '--nope' in p
               for p in check_command('x', 'python tools/train.py configs/mctformer_plus_voc.py '
                                      '--nope'))
    assert 'configs/nope.py does not exist' in check_command('x', 'python tools/train.py '
                                                             'configs/nope.py')
    assert any('--work-dir is required' in p for p in check_command(
        'x', 'python tools/run_pipeline.py configs/mctformer_plus_demo.py --seg-config X'))
    assert check_command('x', 'python tools/train.py configs/mctformer_plus_voc.py | tee log') == []
    assert check_command('x', 'make demo-nope') == [
        "make targets ['demo-nope'] are not in the Makefile"]


def test_python_c_snippets_run():
    """``VAR=$(python -c ...)`` lines (the MMSeg tools folder) run and print an existing path."""
    snippets = [line for _, line in COMMANDS if '$(python -c' in line]
    assert snippets
    for line in snippets:
        code = shlex.split(line.split('$(', 1)[1].rsplit(')', 1)[0])[2]
        out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                             check=True).stdout.strip()
        assert osp.isdir(out), (line, out)


def test_python_blocks_compile():
    for doc, _, text in blocks(lambda lang: lang == 'python'):
        compile(text, doc, 'exec')


def test_relative_links_resolve():
    missing = []
    for doc in DOCS:
        with open(doc, encoding='utf-8') as f:
            text = FENCE.sub('', f.read())
        for target in LINK.findall(text):
            if '://' in target or target.startswith('mailto:'):
                continue
            path = osp.normpath(osp.join(osp.dirname(doc), target))
            if not osp.exists(path):
                missing.append(f'{_rel(doc)} -> {target}')
    assert not missing
