"""Bale's services over one ``Stores``, each made on use: what the CLI and the dashboard share.

A caller subclasses :class:`ServiceSet` and says where its stores and settings come from (the
CLI checks the emulators answer first; the dashboard uses its app's settings); the services
themselves are built the same way everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bale.packages.service import Packages
    from bale.publishing.publishers import Publishers
    from bale.publishing.readers import Readers
    from bale.settings import Settings
    from bale.store.backends import Stores
    from bale.tenancy.service import Tenancy
    from bale.tokens.service import Tokens
    from bale.upstream.service import Upstreams


class ServiceSet:
    """The services; subclasses provide ``stores`` and ``settings``."""

    @property
    def stores(self) -> Stores:
        raise NotImplementedError

    @property
    def settings(self) -> Settings:
        raise NotImplementedError

    @property
    def tenancy(self) -> Tenancy:
        from bale.tenancy.service import Tenancy

        return Tenancy(self.stores)

    @property
    def tokens(self) -> Tokens:
        from bale.tokens.service import Tokens

        return Tokens(self.stores)

    @property
    def packages(self) -> Packages:
        from bale.packages.service import Packages

        return Packages(self.stores)

    @property
    def publishers(self) -> Publishers:
        from bale.publishing.publishers import Publishers

        return Publishers(self.stores)

    @property
    def readers(self) -> Readers:
        from bale.publishing.readers import Readers

        return Readers(self.stores)

    @property
    def upstreams(self) -> Upstreams:
        from bale.upstream.service import Upstreams

        return Upstreams(self.stores, self.settings)
