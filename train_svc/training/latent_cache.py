"""Encoded latents kept on disk by content, so a bundle already encoded for this base model is never encoded again.

An entry is keyed by sha256 over the cache format, the owner (each principal has its own folder and
keys: one tenant's hit never reveals what another trained on), the model identity (model_identity below: the
encoder weights and configs, the base dtype, the device type and the library versions that shape the
encoding) and the bundle's sha256 with the audio flag, or the prompt text for a validation prompt's
Gemma states. It is a safetensors file holding the exact encoder outputs and, in its metadata, the
scalar facts (latent grid, fps, sample id) and a sha256 over every tensor's dtype, shape and bytes, so
what is loaded is bit-identical to what was stored and a damaged entry is a miss (logged, and replaced
by the next put). Entries are written to a temporary file and renamed into place, after the storage
guard agreed; a volume too full fails the job (StorageFull) rather than filling the disk, while other
write errors (a read-only cache) only cost a re-encode next time.

Bound (--latent-cache-max-bytes, 0: none): with a LatentEvictor, least recently used entries are evicted,
never one a live job references; a job's LatentCache records each entry in the job's references before
it reads or writes it, and a hit refreshes the entry's recency (train_svc.training.latent_eviction).

FORMAT_VERSION must be bumped whenever the encoding code (encoding.py, audio_encoding.py, mel.py)
changes what it produces for the same inputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TypeVar

import diffusers
import structlog
import torch
from safetensors.torch import load, save

from shared.auth import owner_key
from shared.disk_space import NO_RESERVE, SpaceGuard, is_storage_full
from train_svc.models.device import Placement
from train_svc.training.audio_encoding import AudioLatents
from train_svc.training.content_digest import content_digest
from train_svc.training.encoding import CaptionEmbedding, PromptStates, VideoLatents
from train_svc.training.latent_eviction import JobReferences, LatentEvictor
from train_svc.training.trainer import TrainingSample

log = structlog.get_logger(__name__)

FORMAT_VERSION = "1"
# What the encoders read from the base model: the text path (LTX2Pipeline reads model_index.json),
# the video VAE and the audio VAE. The transformer does not change an encoding, so it is left out.
_ENCODER_PARTS = ("model_index.json", "tokenizer", "text_encoder", "connectors", "vae", "audio_vae")
_HASHED_FILE_LIMIT = 1 << 20  # files up to this size are fingerprinted by content, larger ones by size and mtime


def _file_fingerprint(path: Path) -> str:
    stat = path.stat()  # follows the symlinks of a hub snapshot to their blobs
    if stat.st_size <= _HASHED_FILE_LIMIT:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def model_identity(model_path: Path, placement: Placement) -> str:
    """What decides the encoders' outputs, as a sha256: every file the encoders load (configs and tokenizer by
    content; weights, too large to hash per job, by size and modification time, so a model rewritten at
    the same path gets a new identity), the base dtype, the device type and the torch/diffusers versions."""
    digest = hashlib.sha256()
    for part in _ENCODER_PARTS:
        root = model_path / part
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for file in files:
            digest.update(f"{file.relative_to(model_path).as_posix()}={_file_fingerprint(file)}\n".encode())
    digest.update(
        f"{placement.base_dtype}|{placement.device.type}|{torch.__version__}|{diffusers.__version__}".encode()
    )
    return digest.hexdigest()


def _tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    return content_digest({name: tensors[name] for name in sorted(tensors)})  # safetensors may reorder them


class LatentCache:
    def __init__(
        self,
        root: Path,
        model_identity: str,
        owner: str,
        space: SpaceGuard = NO_RESERVE,
        *,
        references: JobReferences | None = None,
        evictor: LatentEvictor | None = None,
    ):
        """`root`: the cache's folder for every owner; this cache uses `owner`'s part of it alone.
        `references`: the job's, which pin every entry it touches; `evictor`: bounds the cache after writes."""
        self.folder = root / owner_key(owner)
        self.model_identity = model_identity
        self.owner = owner
        self._space = space
        self._references = references
        self._evictor = evictor

    def get(self, bundle_sha256: str, audio: bool) -> TrainingSample | None:
        """The sample encoded from the bundle with this sha256 (audio encoded when `audio`), or None."""
        path = self._use(self.sample_file(bundle_sha256, audio))
        return _used(path, read_sample_file(path))

    def sample_file(self, bundle_sha256: str, audio: bool) -> Path:
        """The entry's file (it may not exist)."""
        return self.folder / "samples" / f"{self._key('sample', bundle_sha256, str(audio))}.safetensors"

    def put(self, bundle_sha256: str, audio: bool, sample: TrainingSample) -> None:
        latents, caption = sample.latents, sample.caption
        tensors = {
            "video": latents.tokens,
            "caption_video": caption.video,
            "caption_audio": caption.audio,
            "caption_mask": caption.mask,
        }
        if sample.audio is not None:
            tensors["audio"] = sample.audio.tokens
        facts = {
            "sample_id": sample.sample_id,
            "frames": latents.frames,
            "height": latents.height,
            "width": latents.width,
            "fps": latents.fps,
        }
        self._write(self.sample_file(bundle_sha256, audio), tensors, facts)

    def get_prompt(self, text: str) -> PromptStates | None:
        """Gemma's states of a validation prompt, on the CPU, or None."""
        path = self._use(self._prompt_path(text))
        entry = _used(path, _read_entry(path))
        return None if entry is None else PromptStates(embeds=entry[0]["embeds"], mask=entry[0]["mask"])

    def put_prompt(self, text: str, states: PromptStates) -> None:
        self._write(self._prompt_path(text), {"embeds": states.embeds, "mask": states.mask}, {})

    def _key(self, *parts: str) -> str:
        key = "\0".join((FORMAT_VERSION, self.owner, self.model_identity, *parts))
        return hashlib.sha256(key.encode()).hexdigest()

    def _prompt_path(self, text: str) -> Path:
        return self.folder / "prompts" / f"{self._key('prompt', text)}.safetensors"

    def _use(self, path: Path) -> Path:
        """Pin the entry for the job before it is read or written (see latent_eviction)."""
        if self._references is not None:
            self._references.add(path)
        return path

    def _write(self, path: Path, tensors: dict[str, torch.Tensor], facts: dict) -> None:
        self._use(path)
        tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}
        metadata = {"facts": json.dumps(facts), "tensors_sha256": _tensor_digest(tensors)}
        data = save(tensors, metadata)
        self._space.check(path.parent, len(data))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as exc:
            if is_storage_full(exc):
                raise
            log.warning("latent cache entry not written", entry=path.name, error=repr(exc))  # e.g. read-only
            return
        if self._evictor is not None:
            self._evictor.written(len(data))


_T = TypeVar("_T")


def _used(path: Path, found: _T) -> _T:
    """A hit makes its entry the most recently used."""
    if found is not None:
        with contextlib.suppress(OSError):  # a read-only cache still serves its hits
            os.utime(path)
    return found


def _read_entry(path: Path) -> tuple[dict[str, torch.Tensor], dict] | None:
    try:
        data = path.read_bytes()
        tensors = load(data)
        header_size = int.from_bytes(data[:8], "little")  # safetensors' loader keeps the metadata to itself
        metadata = json.loads(data[8 : 8 + header_size])["__metadata__"]
        if _tensor_digest(tensors) != metadata["tensors_sha256"]:
            raise ValueError("tensor checksum mismatch")
        return tensors, json.loads(metadata["facts"])
    except FileNotFoundError:
        return None
    except Exception as exc:  # any damage (truncation, flipped bits, foreign file) makes it a miss
        log.warning("latent cache entry unreadable; it will be re-encoded", entry=path.name, error=repr(exc))
        return None


def read_sample_file(path: Path) -> TrainingSample | None:
    """The training sample a cache entry file holds; None when it is missing or damaged (logged)."""
    entry = _read_entry(path)
    if entry is None:
        return None
    tensors, facts = entry
    return TrainingSample(
        sample_id=facts["sample_id"],
        latents=VideoLatents(
            tokens=tensors["video"],
            frames=facts["frames"],
            height=facts["height"],
            width=facts["width"],
            fps=facts["fps"],
        ),
        caption=CaptionEmbedding(
            video=tensors["caption_video"], audio=tensors["caption_audio"], mask=tensors["caption_mask"]
        ),
        audio=AudioLatents(tensors["audio"]) if "audio" in tensors else None,
    )
