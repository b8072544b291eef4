"""Where things go in the repository (the Flux home-lab layout: `<appsRoot>/<namespace>/<app>/ks.yaml` + `app/`). Pure: paths are POSIX strings relative to the repo root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from velero_gitops.config.model import Config


@dataclass(frozen=True)
class Layout:
    apps_root: str  # kubernetes/apps
    namespace: str  # velero
    app: str  # velero

    @classmethod
    def of(cls, config: Config) -> Layout:
        return cls(config.repo.apps_root, config.repo.namespace, config.repo.app)

    @property
    def namespace_dir(self) -> str:
        return str(PurePosixPath(self.apps_root, self.namespace))

    @property
    def app_root(self) -> str:  # kubernetes/apps/velero/velero
        return str(PurePosixPath(self.namespace_dir, self.app))

    @property
    def ks_file(self) -> str:
        return f"{self.app_root}/ks.yaml"

    @property
    def app_dir(self) -> str:  # the HelmRelease and its secret
        return f"{self.app_root}/app"

    @property
    def schedules_dir(self) -> str:
        return f"{self.app_root}/schedules"

    @property
    def monitoring_dir(self) -> str:  # PrometheusRule, monitors, dashboard: a Kustomization of their own
        return f"{self.app_root}/monitoring"

    @property
    def disaster_recovery_file(self) -> str:  # the DR entry point: applied by hand, listed in no kustomization.yaml
        return f"{self.app_root}/disaster-recovery.yaml"

    @property
    def secret_file(self) -> str:
        return f"{self.app_dir}/secret.sops.yaml"

    @property
    def repo_password_file(self) -> str:  # Secret velero-repo-credentials, written by encrypt-repo-password
        return f"{self.app_dir}/repo-credentials.sops.yaml"

    def flux_path(self, directory: str) -> str:
        """A Kustomization spec.path: relative to the repository root, starting with ./"""
        return f"./{directory}"
