"""The CI systems whose OIDC tokens can publish, each one's claim rules in its own module:

* ``base.py``: :class:`~base.Provider` (what a provider says) and the checks they share;
* ``github.py``, ``gitlab.py``, ``google.py``: one provider each;
* ``oidc.py``: a generic issuer, named by its enrollment rather than a setting.

This package's own module is the registry (:data:`PROVIDERS`, :func:`get_provider`): the
one place that lists them, so a new provider is a module here plus one line below.
"""

from __future__ import annotations

from bale.errors import BadRequest
from bale.publishing.providers.base import Provider
from bale.publishing.providers.github import GitHubActions
from bale.publishing.providers.gitlab import GitLabCI
from bale.publishing.providers.google import GoogleCloud
from bale.publishing.providers.oidc import GenericOIDC

#: Every provider, by name (a :class:`~base.ProviderName`, equal to its plain string).
PROVIDERS: dict[str, Provider] = {
    p.name.value: p for p in (GitHubActions(), GitLabCI(), GoogleCloud(), GenericOIDC())
}


def get_provider(name: str) -> Provider:
    """The provider called ``name``; 400 naming the choices if there is none."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise BadRequest(f"Unknown provider {name!r}; use one of {', '.join(PROVIDERS)}.") from None
