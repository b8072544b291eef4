from cli_util import REPO
from velero_gitops.config import Config
from velero_gitops.reference import markdown


def test_committed_reference_is_up_to_date():
    assert (REPO / "docs/config-reference.md").read_text() == markdown(), (
        "run: velero-gitops config-reference > docs/config-reference.md"
    )


def test_every_field_is_documented():
    text = markdown()

    def walk(model):
        for name, field in model.model_fields.items():
            assert f"`{field.alias or name}`" in text
            for arg in [field.annotation, *getattr(field.annotation, "__args__", ())]:
                if isinstance(arg, type) and hasattr(arg, "model_fields"):
                    walk(arg)

    walk(Config)
