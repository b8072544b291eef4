"""Lay out a plan's files: the file layout is the one jinja2 template (documents.yaml.j2: separators and the
schema modeline), each document is written by the one YAML emitter (render/yamlfmt.py).

The emitter's output is proven in the tests rather than parsed back on every run (that was half of a render):
tests/render/test_yamlfmt.py proves it byte-identical to ruamel's canonical dump and read back, as Kubernetes reads
YAML, to the planned objects, over every example and golden tree and over generated data.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from velero_gitops.render.plan import Artifact, Plan

if TYPE_CHECKING:
    import jinja2

LAYOUT = "documents.yaml.j2"


def templates_dir() -> Path:
    package = Path(__file__).resolve().parent.parent
    packaged = package / "templates"  # inside the wheel
    if packaged.is_dir():
        return packaged
    return package.parent.parent / "templates"  # source checkout / editable install


@lru_cache(maxsize=1)
def _layout() -> jinja2.Template:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # YAML, not HTML
    )
    return env.get_template(LAYOUT)


def warm() -> None:
    """Compile the layout now: a run that attributes what it reads to each config reads the template for none
    (cli/render_cmds._Units), as every config of the run depends on it."""
    _layout()


def render(p: Plan) -> dict[str, str]:
    """{repo-relative path: file body without the generated-file header}."""
    return {a.path: render_artifact(a) for a in p.artifacts}


def render_artifact(a: Artifact) -> str:
    from velero_gitops.render.yamlfmt import document

    docs = [{"schema": d.schema, "text": document(d.obj)} for d in a.docs]
    return _layout().render(docs=docs)
