"""Which LoRA files a caller may have GenerateVideo load: only its own.

A caller names a LoRA file as upload://<id> (an upload of its own, on storage the preprocessor shares)
or as a path / file:// URI; a path counts only when its real path lies in the outputs of one of the
caller's jobs or in the caller's uploads folder. An admin may name any job's outputs or any upload;
the operator's extra folders (the in-process CLI's --lora folder) are for admins only. Nothing else on
the machine, and nothing of another principal, is ever opened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from shared.auth import Caller
from shared.quoting import quote
from shared.uploads_layout import UPLOADS, find_upload, is_upload_uri, owner_uploads_dir, upload_id_of


class LoraNotAllowed(ValueError):
    """The named LoRA file is not one the caller may use; the message says why."""


@dataclass(frozen=True)
class LoraAccess:
    storage_root: Path
    job_ids_of: Callable[[str], Iterable[str]]  # a principal -> the ids of its jobs
    extra_dirs: tuple[Path, ...] = ()  # admins only

    def _roots(self, caller: Caller) -> list[Path]:
        if caller.admin:
            return [self.storage_root / "jobs", self.storage_root / UPLOADS, *self.extra_dirs]
        jobs = [self.storage_root / "jobs" / job_id / "outputs" for job_id in self.job_ids_of(caller.principal)]
        return [*jobs, owner_uploads_dir(self.storage_root, caller.principal)]

    def resolve(self, value: str, caller: Caller) -> Path:
        """The file `value` names, if `caller` may load it; LoraNotAllowed otherwise."""
        if is_upload_uri(value):
            upload_id = upload_id_of(value)
            found = None
            if upload_id is not None:
                found = find_upload(self.storage_root, upload_id, None if caller.admin else caller.principal)
            if found is None:
                raise LoraNotAllowed(f"{quote(value)} names no upload of yours")
            return found
        parts = urlsplit(value)
        if parts.scheme not in ("", "file") or (parts.scheme == "file" and parts.netloc not in ("", "localhost")):
            raise LoraNotAllowed("must be upload://<id>, a path, or a file:// URI on the service's storage")
        raw = Path(unquote(parts.path) if parts.scheme else value)
        if not raw.is_absolute():
            raw = self.storage_root / raw
        path = raw.resolve()
        if not any(path.is_relative_to(root.resolve()) for root in self._roots(caller)) or not path.is_file():
            raise LoraNotAllowed(
                f"{quote(value)} is not a LoRA file of yours: name a file among your jobs' outputs or your "
                "uploads (or use job: trainingJobs/{id})"
            )
        return path
