"""Signing keys kept in a local folder, one per partner: `<partner>.key` and its sequence.

This is how a partner's own system (or an operator publishing on its behalf
with `refnet publish`, `refnet import` or the demo) finds the key to sign with.
The publisher id of such a key is the partner id itself.
"""

from __future__ import annotations

from pathlib import Path

from refnet.events.signing import FileSequence, KeyUnusable, Signer, SigningKey


class LocalKeys:
    """Partners' private keys in one folder; signers are made once and reused."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._signers: dict[str, Signer] = {}

    def key_path(self, partner_id: str) -> Path:
        return self.folder / f"{partner_id}.key"

    def has(self, partner_id: str) -> bool:
        return self.key_path(partner_id).exists()

    def create(self, partner_id: str) -> SigningKey:
        """Generate and save a new key for `partner_id` (refuses to overwrite one)."""
        key = SigningKey.generate()
        try:
            key.save(self.key_path(partner_id))
        except FileExistsError as exc:
            raise KeyUnusable(f"{self.key_path(partner_id)} exists already") from exc
        self._signers.pop(partner_id, None)
        return key

    def signer(self, partner_id: str) -> Signer:
        """The signer for events of `partner_id`; a clear error if it has no key here."""
        if partner_id not in self._signers:
            path = self.key_path(partner_id)
            if not path.exists():
                raise KeyUnusable(
                    f"no signing key for partner {partner_id!r} in {self.folder} "
                    f"(create one with `refnet partners keys generate {partner_id}`)"
                )
            sequence = FileSequence(self.folder / f"{partner_id}.sequence")
            self._signers[partner_id] = Signer(SigningKey.load(path), partner_id, sequence)
        return self._signers[partner_id]
