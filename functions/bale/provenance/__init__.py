"""PEP 740 provenance: attestations a trusted publisher uploads with a file, verified offline
against the identity its token was minted for (:mod:`.verify`), stored with the file's record
and served by the Integrity API (:mod:`.store`)."""
