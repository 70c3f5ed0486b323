"""Point the real clients at an emulated Hub: ``huggingface_hub`` and ``datasets`` in this process
(env vars and the constants they computed from them at import time), or a subprocess (env vars
only), and refuse name resolution of anything that is not loopback."""

from __future__ import annotations

import importlib
import socket
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

UNSET_ENV = [
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HUGGINGFACE_HUB_CACHE",
    "HUGGINGFACE_ASSETS_CACHE",
    "HF_ASSETS_CACHE",
    "HUGGINGFACE_CO_STAGING",
]


def hub_http_client() -> ModuleType:
    """The HTTP client package huggingface_hub sends with: httpx (1.x) or httpx2 (2.x)."""
    from huggingface_hub.utils import get_session

    return importlib.import_module(type(get_session()).__module__.split(".")[0])


def client_env_vars(endpoint: str, home: Path, token: str | None, xet: bool) -> dict[str, str]:
    env = {
        "HF_ENDPOINT": endpoint,
        "HF_HUB_DISABLE_XET": "" if xet else "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_DATASETS_CACHE": str(home / "datasets"),
        "HF_TOKEN_PATH": str(home / "token"),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    if token is not None:
        env["HF_TOKEN"] = token
    return env


def point_clients_at(
    endpoint: str, home: Path, token: str | None, monkeypatch, xet: bool = True
) -> None:
    """Point ``huggingface_hub`` and ``datasets`` (already imported or not) at ``endpoint``.

    Sets the env vars (for anything read later / subprocesses) and patches the public constants
    both libraries computed from them at import time (``huggingface_hub.constants``,
    ``datasets.config``; ``HF_HUB_DISABLE_XET`` included: ``xet=False`` sends uploads down the
    legacy LFS path) and the public module-level ``huggingface_hub.hf_api.api``. No private
    name of either library: checked on huggingface_hub 1.31 and 2.4, datasets 5.1 and 5.2."""
    import datasets.config as dconfig
    import huggingface_hub
    import huggingface_hub.constants as hc
    import huggingface_hub.hf_api as hf_api
    from huggingface_hub import HfFileSystem

    hub_cache, ds_cache = home / "hub", home / "datasets"
    for k, v in client_env_vars(endpoint, home, token, xet).items():
        monkeypatch.setenv(k, v)
    for k in UNSET_ENV + ([] if token is not None else ["HF_TOKEN"]):
        monkeypatch.delenv(k, raising=False)

    template = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    host = urlsplit(endpoint).hostname
    consts = {
        "ENDPOINT": endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": template,
        "HF_URL_HOSTS": frozenset(hc.HF_URL_HOSTS | {host}),
        "HF_HUB_DISABLE_XET": not xet,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_OFFLINE": False,
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(hub_cache),
        "HUGGINGFACE_HUB_CACHE": str(hub_cache),
        "HF_ASSETS_CACHE": str(home / "assets"),
        "HUGGINGFACE_ASSETS_CACHE": str(home / "assets"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
        "HF_XET_CACHE": str(home / "xet"),
    }
    for name, value in consts.items():
        if hasattr(hc, name):
            monkeypatch.setattr(hc, name, value)
        if name in vars(huggingface_hub):  # lazily re-exported constants already materialised
            monkeypatch.setattr(huggingface_hub, name, value)
    # the module-level `api` behind huggingface_hub.upload_file(), create_repo(), ...
    monkeypatch.setattr(hf_api.api, "endpoint", endpoint)

    dconsts = {
        "HF_ENDPOINT": endpoint,
        "HUB_DATASETS_URL": endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}",
        "HF_CACHE_HOME": str(home),
        "HF_DATASETS_CACHE": ds_cache,
        "HF_MODULES_CACHE": home / "modules",
        "DOWNLOADED_DATASETS_PATH": ds_cache / "downloads",
        "EXTRACTED_DATASETS_PATH": ds_cache / "downloads" / "extracted",
        "HF_HUB_OFFLINE": False,
        "HF_DATASETS_OFFLINE": False,
        "HF_UPDATE_DOWNLOAD_COUNTS": False,  # would HEAD s3.amazonaws.com
        "USE_PARQUET_EXPORT": False,  # would query datasets-server.<endpoint host>
    }
    for name, value in dconsts.items():
        monkeypatch.setattr(dconfig, name, value)

    HfFileSystem.clear_instance_cache()


def guard_network(monkeypatch, blocked: list[str]) -> None:
    """Refuse (and record) name resolution of anything that is not loopback."""
    real = socket.getaddrinfo
    allowed = {"127.0.0.1", "localhost", "::1"}

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in allowed:
            blocked.append(name)
            raise socket.gaierror(socket.EAI_NONAME, f"HubEmulator: non-loopback host {name!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
