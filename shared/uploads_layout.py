"""Where uploaded archives live, per owner: <storage>/uploads/<owner key>/<id>.zip, named upload://<id>.

An upload is found only under its owner's folder, so another principal's upload:// id names nothing
for them. Both services use this layout (the preprocessor writes and reads uploads; the training
service reads a LoRA file a caller uploaded).
"""

from __future__ import annotations

import re
from pathlib import Path

from shared.auth import owner_key

UPLOAD_SCHEME = "upload"
UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
UPLOADS = "uploads"


def owner_uploads_dir(storage_root: Path, owner: str) -> Path:
    return storage_root / UPLOADS / owner_key(owner)


def upload_id_of(uri: str) -> str | None:
    """The id in "upload://<id>", or None when `uri` is not an upload URI of the right form."""
    prefix = f"{UPLOAD_SCHEME}://"
    if not uri.startswith(prefix):
        return None
    upload_id = uri.removeprefix(prefix)
    return upload_id if UPLOAD_ID.fullmatch(upload_id) else None


def is_upload_uri(url: str) -> bool:
    return url.startswith(f"{UPLOAD_SCHEME}:")


def upload_path(storage_root: Path, owner: str, upload_id: str) -> Path:
    return owner_uploads_dir(storage_root, owner) / f"{upload_id}.zip"


def find_upload(storage_root: Path, upload_id: str, owner: str | None) -> Path | None:
    """The stored upload `upload_id` of `owner` (None: of anyone, for admins), if there is one."""
    if owner is not None:
        path = upload_path(storage_root, owner, upload_id)
        return path if path.is_file() else None
    return next((p for p in (storage_root / UPLOADS).glob(f"*/{upload_id}.zip") if p.is_file()), None)
