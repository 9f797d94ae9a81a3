"""The benchmarks' output: one JSON object on stdout, and in a file when asked."""
import json


def emit_json(summary: dict, out: str = None) -> None:
    """Print ``summary`` as indented JSON; also write it to ``out`` when given."""
    text = json.dumps(summary, indent=2)
    print(text)
    if out:
        with open(out, 'w') as f:
            f.write(text + '\n')
