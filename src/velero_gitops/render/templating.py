"""Format a plan into file texts with the jinja2 templates, and prove each text is what was planned.

Templates only format. Every rendered file is parsed back and its objects must equal the planned
objects, so a template can never emit invalid YAML or drop a value unnoticed. That the texts are a
fixed point of the canonical YAML style (no churn under ruamel/prettier) is proven by the golden
tests rather than on every run: the round-trip loader is pure Python and would dominate `check`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from velero_gitops.render.plan import Artifact, Plan

if TYPE_CHECKING:
    import jinja2


class TemplateBug(RuntimeError):
    """A template produced text that does not match the plan: a bug in velero-gitops, not a user error."""


def templates_dir() -> Path:
    package = Path(__file__).resolve().parent.parent
    packaged = package / "templates"  # inside the wheel
    if packaged.is_dir():
        return packaged
    return package.parent.parent / "templates"  # source checkout / editable install


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    import jinja2

    from velero_gitops.render import yamlfmt

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # YAML, not HTML
    )
    env.filters["yaml"] = lambda value, indent=0, level="": yamlfmt.dump_fragment(value, indent, level)
    return env


def render(p: Plan) -> dict[str, str]:
    """{repo-relative path: file body without the generated-file header}."""
    return {a.path: render_artifact(a) for a in p.artifacts}


def render_artifact(a: Artifact) -> str:
    from velero_gitops.render import yamlfmt

    text = _env().get_template(a.template).render(docs=a.docs, **a.extra)
    text = text.lstrip("\n").rstrip("\n") + "\n"
    loaded = list(yamlfmt.safe_load_all(text))
    planned = [d.obj for d in a.docs]
    if loaded != planned:
        raise TemplateBug(f"{a.template} rendered {a.path} with content that differs from the plan")
    return text
