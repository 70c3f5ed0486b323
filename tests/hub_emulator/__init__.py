"""A Hugging Face Hub on 127.0.0.1 for tests, driven by the real ``huggingface_hub``, ``hf_xet``
and ``datasets`` clients (no network). Each rule below says where it comes from: a hub-docs page
(``docs/hub/…``, ``docs/xet/…`` in huggingface/hub-docs) or the client code that sends the
request (``huggingface_hub/<file>:<function>``, version 2.4; ``hf_xet`` 1.8). The same rules
serve huggingface_hub 2.0 (the declared floor).

Hub API (server.py), one handler per endpoint:

- ``GET /api/whoami-v2``: token → user, its organisations and role (``hf_api.py:HfApi.whoami``);
  read tokens cannot write (401 without a token, 403 with a read token):
  ``docs/hub/security-tokens.md``. A token writes only under its user's and its organisations'
  names (``HubEmulator(orgs=…)``): 403 otherwise, "You don't have the rights to create a dataset
  under the namespace "X"." on creating a repo (``docs/hub/organizations.md``;
  ``hf_api.py:HfApi.create_repo`` reads a 403 as "no write permission on the namespace").
- ``POST /api/repos/create``, ``DELETE /api/repos/delete``: 409 if it exists
  (``hf_api.py:HfApi.create_repo``, ``delete_repo``).
- ``GET /api/datasets/{id}[/revision/{rev}]``, ``…/tree/{rev}/{path}``, ``POST …/paths-info``,
  ``GET …/refs``, ``GET …/commits/{rev}``: ``hf_api.py:repo_info``, ``list_repo_tree``,
  ``get_paths_info``, ``list_repo_refs``, ``list_repo_commits``.
- ``POST …/preupload/{rev}``: "regular" or "lfs" per file, by size (over 10 MB: LFS) and by the
  repo's ``.gitattributes`` patterns (``_commit_api.py:_fetch_upload_modes``;
  ``docs/hub/repositories-getting-started.md``).
- ``POST …/commit/{rev}``: NDJSON header, inline base64 files, LFS/Xet files by sha256,
  deletions, ``parentCommit`` (412 when stale); each commit a new sha and file tree
  (``_commit_api.py:_prepare_commit_payload``, ``hf_api.py:create_commit``). A README.md whose
  YAML the Hub would refuse is refused here too (hub_card_rules.py).
- ``POST /api/validate-yaml``: the documented card rules (``repocard.py:RepoCard.validate``;
  sources in hub_card_rules.py).
- ``POST|DELETE …/branch/{b}``: ``hf_api.py:create_branch``, ``delete_branch``.
- ``POST …/tag/{rev}``, ``GET …/refs``: tags (409 when one exists; a tag never moves) and the
  repo's branches, tags and pull requests (``hf_api.py:create_tag``, ``list_repo_refs``). A
  tag resolves as a revision wherever one is taken: info, tree, commits, downloads,
  ``hf://…@v1.0`` (``file_download.py:hf_hub_url``, ``hf_file_system.py:resolve_path``).
- ``…/discussions``: pull requests (``refs/pr/N``), listing, details, status, merge
  (``hf_api.py:create_pull_request``, ``get_repo_discussions``, ``get_discussion_details``,
  ``change_discussion_status``, ``merge_pull_request``;
  ``docs/hub/repositories-pull-requests-discussions.md``). Pull requests against a branch,
  merge conflicts, drafts, pull requests disabled per repo and tokens without
  ``discussion.write``: hub_pulls.py, each rule with its source.
- ``GET|HEAD /datasets/{id}/resolve/{rev}/{path}``: downloads with HTTP Range, ``X-Repo-Commit``,
  ``ETag``, and for Xet files the ``X-Xet-Hash`` and reconstruction link headers
  (``file_download.py:get_hf_file_metadata``, ``hf_hub_download``; ``hf_file_system.py``
  reads; ``utils/_xet.py:parse_xet_file_data_from_response``).
- Legacy LFS (``HF_HUB_DISABLE_XET=1``): ``POST {id}.git/info/lfs/objects/batch``, the basic
  transfer ``PUT`` and its ``verify`` action (``lfs.py:post_lfs_batch_info``, ``lfs_upload``;
  the Git LFS batch API spec).
- Faults on demand (``HubEmulator.fail``, ``fail_commit``): an HTTP status with any headers (a
  ``Retry-After``), or a dropped connection, for the push's retry and resume tests.

Xet storage (xet_routes.py, xet_cas.py, xet_format.py, xet_shard.py):

- ``GET …/xet-{read,write}-token/{rev}``: a short-lived CAS token and URL
  (``utils/_xet.py:_fetch_xet_connection_info_with_url``; ``docs/xet/auth.md``).
- CAS ``POST /v1/xorbs/default/{hash}`` and ``/v2/shards``: every chunk, xorb hash, file
  hash, verification hash and sha256 recomputed from the bytes and refused with 400 on any
  mismatch (``docs/xet/api.md``, ``hashing.md``, ``xorb.md``, ``shard.md``).
- Global dedup ``GET /v1/chunks/default/{hash}`` (``shard.md`` "Global Deduplication") and
  downloads through ``/v2/reconstructions/{file}`` plus ranged xorb GETs
  (``docs/xet/download-protocol.md``).

Not emulated, since no client call made by the tests needs it: repo deletion, ``paths-info``,
tag deletion, branch deletion, folder deletion, ``expand``/``blobs`` views, the preupload remote
``oid`` (unchanged files are sent again), chunked request bodies, Xet v1 reconstructions/shards.

Helpers: ``HubEmulator`` (server.py: in-process; ``stats`` of requests and bytes, ``repos``),
``emulated_hub`` (server.py: the ``hub`` fixture, clients pointed at it, non-loopback DNS
refused, the push's retry waits recorded in ``retry_waits`` instead of slept),
``point_clients_at`` and ``guard_network`` (clients.py); ``python -m tests.hub_emulator``
(__main__.py) serves one standalone (a port in use: one line, exit 2).
"""

from .clients import guard_network, point_clients_at
from .server import LFS_THRESHOLD, HubEmulator, emulated_hub

__all__ = ["LFS_THRESHOLD", "HubEmulator", "emulated_hub", "guard_network", "point_clients_at"]
