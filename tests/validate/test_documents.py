"""Reading files into objects: keys as Kubernetes reads them, and a kustomization file's YAML.

Kubernetes turns YAML into JSON before it decodes an object (kubernetes-sigs/yaml@v1.6.0:yaml.go,
convertToJSONableObject): integer keys become decimal text, booleans true/false, floats the text of
strconv.FormatFloat(k, 'g', -1, 32); a null, a mapping or a list as a key is an error.
"""

from __future__ import annotations

import codecs
import dataclasses
import struct
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from velero_gitops.validate.documents import Reader, find_kfile, inside, kfile_name
from velero_gitops.yamlsafe import _go_float32

from cli_util import require_kubectl


def _read(tmp_path, text: str, name: str = "cm.yaml") -> Reader:
    f = tmp_path / name
    f.write_text(text)
    reader = Reader(str(tmp_path))
    reader.read(name, f)
    return reader


def test_scalar_keys_become_the_strings_kubernetes_writes(tmp_path):
    """Helm values such as ingress-nginx's `tcp: {22: "default/ssh:22"}` use integer keys: they must
    validate, not crash the schema check (jsonschema-rs reads string keys only)."""
    reader = _read(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n"
                   "  22: a\n  0x1F: b\n  true: c\n  1.5: d\n  1234567.0: e\n  .inf: f\n  plain: g\n")
    assert not reader.findings
    (obj,) = reader.objects
    assert list(obj.data["data"]) == ["22", "31", "true", "1.5", "1.234567e+06", ".inf", "plain"]
    assert obj.data["data"].lines["22"] == 6


def test_keys_kubernetes_refuses_are_located_findings(tmp_path):
    """Located, and held until it is known whether something applies the file (a Helm template's
    `{{ .Release.Namespace }}` is such a key: test_templates_are_manifests_only_when_applied)."""
    for key, words in (("~", "null key"), ("[a]", "cannot be a key"), ("{b: 1}", "cannot be a key")):
        reader = _read(tmp_path, f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  {key}: v\n")
        assert not reader.findings
        ((finding, _path),) = reader.unless_stray
        assert finding.line == 6 and words in finding.message, finding


def test_invalid_yaml_in_a_kustomization_file_is_a_finding(tmp_path):
    """kustomize's own file is no object, but YAML that libyaml (and so Go YAML) refuses is wrong for
    every consumer, even when no build reaches the folder."""
    reader = _read(tmp_path, "resources:\n  - a.yaml\nfoo: bar: baz\n", name="kustomization.yaml")
    (finding,) = reader.findings
    assert finding.rule == "yaml" and finding.line == 3 and not reader.objects
    ok = _read(tmp_path, "resources:\n  - a.yaml\n", name="kustomization.yaml")
    assert not ok.findings and not ok.objects


@given(st.floats(allow_nan=False, allow_infinity=False, width=32))
@example(1e6)
@example(123456.0)
@example(1e-5)
def test_float_keys_read_back_as_the_same_float32(x):
    x = struct.unpack("f", struct.pack("f", x))[0]
    text = _go_float32(x)
    assert struct.unpack("f", struct.pack("f", float(text)))[0] == x
    assert len(text.lstrip("-").split("e")[0].replace(".", "").strip("0")) <= 9
    exp = f"{abs(x):e}".split("e")[1] if x else "+00"
    assert ("e" in text) == (x != 0 and not -4 <= int(exp) < 6)


def test_templates_are_manifests_only_when_applied(tmp_path):
    """Class C (issue 19): a Helm chart's templates/*.yaml (`{{- range }}`) and a Go-templated helmfile.yaml are no
    YAML; they are findings only when something applies them, like any file of another tool."""
    from velero_gitops.validate.engine import Options, validate_paths

    root = tmp_path / "repo"
    (root / "charts/web/templates").mkdir(parents=True)
    (root / "charts/web/templates/cm.yaml").write_text("{{- range .Values.items }}\n---\nkind: ConfigMap\n{{- end }}\n")
    # libyaml reads `{{ .Release.Namespace }}` as a flow mapping used as a key: YAML, but no Kubernetes object
    (root / "charts/web/templates/svc.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"
                                                        "  namespace: {{ .Release.Namespace }}\n")
    (root / "helmfile.yaml").write_text("releases:\n{{- range .Values.releases }}\n  - name: {{ . }}\n{{- end }}\n")
    (root / "apps").mkdir()
    (root / "apps/kustomization.yaml").write_text("resources:\n  - ./cm.yaml\n")
    (root / "apps/cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: b\n")
    opts = Options(repo_root=str(root), kustomize="never")
    assert validate_paths([str(root)], opts).findings == []
    (root / "apps/kustomization.yaml").write_text("resources:\n  - ./cm.yaml\n  - ../charts/web/templates/cm.yaml\n")
    assert [(f.rule, f.line) for f in validate_paths([str(root)], opts).findings] == [("yaml", 1)]
    (root / "apps/kustomization.yaml").write_text("resources:\n  - ./cm.yaml\n  - ../charts/web/templates/svc.yaml\n")
    assert [(f.rule, f.line) for f in validate_paths([str(root)], opts).findings] == [("yaml", 5)]


def test_another_tools_file_with_python_tags_is_not_judged(tmp_path):
    """Class E (issue 19): mkdocs.yml with `!!python/name:` tags is another tool's file; refused only where something
    applies it."""
    from velero_gitops.validate.engine import Options, validate_paths

    root = tmp_path / "repo"
    (root / "apps").mkdir(parents=True)
    (root / "mkdocs.yml").write_text("markdown_extensions:\n  - pymdownx.emoji:\n"
                                     "      emoji_index: !!python/name:material.extensions.emoji.twemoji\n")
    (root / "apps/kustomization.yaml").write_text("resources:\n  - ./cm.yaml\n")
    (root / "apps/cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: b\n")
    opts = Options(repo_root=str(root), kustomize="never")
    assert validate_paths([str(root)], opts).findings == []
    (root / "apps/kustomization.yaml").write_text("resources:\n  - ./cm.yaml\n  - ../mkdocs.yml\n")
    assert [f.rule for f in validate_paths([str(root)], opts).findings] == ["yaml"]


def test_stdin_goes_through_the_files_decoding_and_limit():
    """B10 (probe 51): `validate -` on bytes Go YAML does not read (a UTF-32 BOM, a bad byte in a value) is a located
    finding like a file's (safefile.decode), exit 1, never a traceback; a stream over the limit is refused."""
    import subprocess
    import sys

    from velero_gitops.safefile import DEFAULT_LIMIT

    def validate(data: bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "velero_gitops", "validate", "-"], input=data,
                              capture_output=True, timeout=120)

    # a UTF-32LE BOM is Go YAML's UTF-16LE BOM and a U+0000, which its reader refuses (kubernetes-sigs/yaml@v1.4.0:
    # goyaml.v3/readerc.go yaml_parser_determine_encoding, yaml_parser_update_buffer)
    for data, start in ((codecs.BOM_UTF32_LE, "-:1: control character U+0000 is not allowed in YAML"),
                        (b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"\xff\"}\n",
                         "-:3: is not UTF-8 text (byte 0xff at line 3, ")):
        r = validate(data)
        out = r.stdout.decode("utf-8")  # strict: the output is UTF-8 whatever came in
        assert r.returncode == 1 and b"Traceback" not in r.stderr, r.stderr
        assert out.startswith(start), out
    r = validate(b"#" * (DEFAULT_LIMIT + 1))
    assert r.returncode == 1 and f"more than {DEFAULT_LIMIT} bytes; not read" in r.stdout.decode()
    ok = validate("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: \"é\"}\n".encode())
    assert ok.returncode == 0 and ok.stdout == b"no findings; objects: 1 passed, 0 failed\n"


def test_find_kfile_follows_kustomize_order(tmp_path):
    """kubernetes-sigs/kustomize@kustomize/v5.7.1:api/konfig/general.go RecognizedKustomizationFileNames: the first
    recognised name wins; a folder (not a file) of that name is no kustomization; the listing form agrees."""
    assert find_kfile(tmp_path) is None and kfile_name([]) is None
    (tmp_path / "Kustomization").write_text("resources: []\n")
    assert find_kfile(tmp_path) == tmp_path / "Kustomization"
    (tmp_path / "kustomization.yml").write_text("resources: []\n")
    assert find_kfile(tmp_path) == tmp_path / "kustomization.yml"
    (tmp_path / "kustomization.yaml").mkdir()
    assert find_kfile(tmp_path) == tmp_path / "kustomization.yml"
    assert kfile_name(["Kustomization", "kustomization.yml", "a.yaml"]) == "kustomization.yml"


_PART = st.sampled_from(["a", "b", "ab", "..", ".", ""])


@given(st.lists(_PART, max_size=4), st.lists(_PART, max_size=4), st.booleans(), st.booleans())
@example(["a"], [], False, False)
def test_inside_is_root_or_one_of_its_parents(p_parts, r_parts, p_abs, r_abs):
    """The text comparison decides what ``root in p.parents`` decides, for absolute and relative paths alike."""
    p = Path("/" if p_abs else ".", *p_parts)
    r = Path("/" if r_abs else ".", *r_parts)
    assert inside(p, r) == (p == r or r in p.parents)


def test_a_git_crypt_file_is_reported_as_not_checked_not_as_bad_text(tmp_path):
    """Held-out repository (sclem): files git-crypt encrypts start with its header (AGWA/git-crypt@0.7.0:commands.cpp,
    "\\0GITCRYPT\\0" and a nonce); in a locked checkout they are ciphertext. "not UTF-8, save it as UTF-8" was wrong
    advice and an error: it is a warning that the file is not checked, naming the unlock and Flux's limit."""
    from velero_gitops.validate.engine import Options, validate_paths

    (tmp_path / "kustomization.yaml").write_text("resources: [config.yaml]\n")
    (tmp_path / "config.yaml").write_bytes(b"\x00GITCRYPT\x00" + bytes(range(256)) * 4)
    res = validate_paths([str(tmp_path)], Options(kustomize="never"))
    assert [(f.rule, f.severity) for f in res.findings] == [("yaml.git-crypt", "warning")], res.findings
    assert "git-crypt unlock" in res.findings[0].message and "UTF-8" not in res.findings[0].message


# The BOMs Go YAML decides a stream's encoding by (kubernetes-sigs/yaml@v1.4.0:goyaml.v3/readerc.go
# yaml_parser_determine_encoding); codecs' constants are the same bytes
_BOMS = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE, "utf-8": codecs.BOM_UTF8}
_KS = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
       "  namespace: flux-system\nspec:\n  interval: 10m\n  path: {path}\n  prune: true\n"
       "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n")


def _cm(name: str, value: str = "'v'") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  k: {value}\n"


def _saved(text: str, encoding: str) -> bytes:
    """``text`` as Windows saves it: the encoding's BOM, CRLF line ends."""
    return _BOMS[encoding] + text.replace("\n", "\r\n").encode(encoding)


def _flux_tree(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """A Flux repository whose ./apps has no kustomization.yaml: Flux's generator lists its files
    (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go scanManifests)."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "clusters/home/flux-system").mkdir(parents=True)
    (root / "clusters/home/flux-system/gotk-sync.yaml").write_text(_KS.format(name="flux-system", path="./clusters/home"))
    (root / "clusters/home/apps.yaml").write_text(_KS.format(name="apps", path="./apps"))
    (root / "apps").mkdir()
    for name, data in files.items():
        (root / "apps" / name).write_bytes(data)
    return root


@pytest.mark.parametrize("kustomize", ["never", "auto"])
@pytest.mark.parametrize("encoding", sorted(_BOMS))
def test_a_single_document_file_with_a_bom_is_read_and_schema_checked(tmp_path, encoding, kustomize):
    """The false positive of a fresh real repository: manifests saved as UTF-16 with a BOM were "not UTF-8 text"
    errors, yet Go YAML decodes them (kubernetes-sigs/yaml@v1.4.0:goyaml.v3/readerc.go yaml_parser_determine_encoding)
    and Flux applies them. A UTF-16LE, UTF-16BE or UTF-8-BOM manifest of one document validates clean, and is
    schema-checked like any file: a value the schema refuses is found at its line."""
    if kustomize == "auto":
        require_kubectl()
    from velero_gitops.validate.engine import Options, validate_paths

    opts = Options(kustomize=kustomize)
    root = _flux_tree(tmp_path, {"cm.yaml": _saved(_cm("a"), encoding)})
    res = validate_paths([str(root)], dataclasses.replace(opts, repo_root=str(root)))
    assert res.findings == [] and res.passed == 3, res.findings
    (root / "apps/cm.yaml").write_bytes(_saved(_cm("a", "[1]"), encoding))
    res = validate_paths([str(root)], dataclasses.replace(opts, repo_root=str(root)))
    assert [(f.file.rsplit("/", 1)[-1], f.line, f.rule) for f in res.findings] == [("cm.yaml", 7, "schema")], res.findings


def _kustomize_names(kubectl: str, d: Path) -> list[str]:
    from velero_gitops.validate import kustomize

    ok, out = kustomize.run_kubectl(kubectl, d)
    assert ok, out
    return [m.split(": ", 1)[1] for m in out.splitlines() if m.startswith("  name: ")]


def test_a_utf16_file_of_several_documents_is_read_as_kustomize_reads_it(tmp_path):
    """kustomize splits a resource file's documents with a regexp over its raw bytes, then decodes each chunk and reads
    its first document (kubernetes-sigs/kustomize@kyaml/v0.20.1:kyaml/kio/byteio_reader.go ByteReader.Read,
    splitDocuments); in UTF-16 no "\\n---" matches, so the first document is all it reads. Derived from the real
    build: the objects the reader yields are those `kubectl kustomize` emits, for UTF-8 and UTF-16 alike."""
    kubectl = require_kubectl()
    text = "---\n".join(_cm(f"cm{i}") for i in range(3))
    for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
        d = tmp_path / encoding
        d.mkdir()
        (d / "kustomization.yaml").write_text("resources:\n- cm.yaml\n")
        (d / "cm.yaml").write_bytes(_saved(text, encoding))
        reader = Reader(str(d))
        reader.read("cm.yaml", d / "cm.yaml")
        assert sorted(o.name for o in reader.objects) == sorted(_kustomize_names(kubectl, d)), encoding
    assert [o.name for o in reader.objects] == ["cm0"]  # the premise of the finding below


@pytest.mark.parametrize("kustomize", ["never", "auto"])
def test_a_utf16_file_of_three_documents_is_one_finding_with_the_count(tmp_path, kustomize):
    """What Flux applies of a UTF-16 file (kyaml/kio/byteio_reader.go, as above) is its first document; the other two
    are silently never applied: one error at the second document's line, with the count and the fix, whether or not
    validate runs kustomize (Flux always does). Its first object is checked as any other; a file named on the command
    line, in a tree with no applier, gets the finding too."""
    if kustomize == "auto":
        require_kubectl()
    from velero_gitops.validate.engine import Options, validate_paths

    text = "---\n".join(_cm(f"cm{i}") for i in range(3))
    root = _flux_tree(tmp_path, {"cm.yaml": _saved(text, "utf-16-le")})
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize=kustomize))
    second = text.splitlines().index("---") + 2
    assert [(f.line, f.rule, f.severity) for f in res.findings] == [(second, "yaml.utf16-documents", "error")]
    assert "the 2 documents from here on are never applied: save the file as UTF-8" in res.findings[0].message
    assert res.passed == 3  # the two Flux Kustomizations and cm0
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "cm.yaml").write_bytes(_saved(text, "utf-16-be"))
    res = validate_paths([str(plain / "cm.yaml")], Options(kustomize=kustomize))
    assert [(f.line, f.rule) for f in res.findings] == [(second, "yaml.utf16-documents")]


def test_invalid_utf16_is_a_located_finding(tmp_path):
    """A lone surrogate, which Go YAML's reader refuses too (readerc.go "expected low surrogate area"), is a finding at
    its line naming the fix, not a traceback and not "not UTF-8"."""
    from velero_gitops.validate.engine import Options, validate_paths

    data = _saved(_cm("a"), "utf-16-le")
    cut = data.index("'v'".encode("utf-16-le"))
    root = _flux_tree(tmp_path, {"cm.yaml": data[:cut] + b"\x00\xd8" + data[cut:]})
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never"))
    assert [(f.line, f.rule, f.message) for f in res.findings] == [
        (7, "yaml", "is not valid UTF-16 text (a lone surrogate 0xd800 at line 7, column 6); save it as UTF-8")]
