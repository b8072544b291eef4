from velero_gitops.config.model import Config
from velero_gitops.config.reference import markdown

from cli_util import REPO


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


def test_committed_json_schema_is_up_to_date():
    from velero_gitops.config.reference import json_schema

    assert (REPO / "docs/config.schema.json").read_text() == json_schema(), (
        "run: velero-gitops config-schema > docs/config.schema.json"
    )


def _schema_validator():
    import json

    import jsonschema_rs

    return jsonschema_rs.validator_for(json.loads((REPO / "docs/config.schema.json").read_text()))


def _yaml(path):
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(path.read_text())


def test_example_configs_validate_against_the_schema_and_point_at_it():
    validator = _schema_validator()
    examples = sorted((REPO / "clusters").glob("*/velero-gitops.yaml"))
    assert len(examples) >= 2
    for cfg in examples:
        first = cfg.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../../docs/config.schema.json", cfg
        assert (cfg.parent / first.split("=", 1)[1]).resolve() == (REPO / "docs/config.schema.json").resolve()
        errors = [e.message for e in validator.iter_errors(_yaml(cfg))]
        assert errors == [], (cfg, errors)


def test_schema_catches_what_an_editor_should_flag():
    """Typos, wrong types and unknown enum values are red in the editor, as they are errors in `render`."""
    validator = _schema_validator()
    good = {"cluster": "c", "s3": {"endpoint": "https://s3.example.org"}}
    assert validator.is_valid(good)
    for bad in (
        {**good, "clustr": "c"},
        {**good, "s3": {"endpoint": "https://s3.example.org", "bukket": "b"}},
        {**good, "schedules": [{"name": "d", "cron": "0 2 * * *", "namespaces": "monitoring"}]},
        {**good, "velero": {"nodeAgent": {"distribution": "minikube-ish"}}},
        {"s3": {"endpoint": "https://s3.example.org"}},
    ):
        assert not validator.is_valid(bad), bad
