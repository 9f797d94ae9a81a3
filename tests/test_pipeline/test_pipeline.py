"""WSSSPipeline's state: finished stages whose inputs are no longer the upstream checkpoints are
refused."""
import json

import pytest

from mmseg_mctformer.pipeline import WSSSPipeline


def test_finished_stage_with_another_input_checkpoint_is_refused(tmp_path):
    state = dict(stage1=dict(checkpoint='s1.pth', checkpoint_sha256='a' * 64),
                 seeds=dict(seed_mIoU=50.0, inputs=dict(stage1='a' * 64)),
                 pseudo_labels=dict(out_dir='pl', inputs=dict(stage1='b' * 64)))
    (tmp_path / 'pipeline_state.json').write_text(json.dumps(state))
    pipeline = WSSSPipeline('cls.py', 'seg.py', str(tmp_path))
    with pytest.raises(ValueError, match=r"stage 'pseudo_labels' used the stage1 checkpoint "
                       r'with SHA-256 b{64}, the stage1 stage now holds a{64}\. Delete'):
        pipeline.run()
    state['pseudo_labels']['inputs']['stage1'] = 'a' * 64
    pipeline.state = state
    pipeline.check_inputs()  # the same checkpoint: accepted
