"""A ``requests.Session`` that sends zenpy's Zendesk URLs to another base URL (the sandbox).

zenpy always builds ``https://{subdomain}.zendesk.com/api/v2/...``; giving
``Zenpy(session=BaseUrlSession(base_url, subdomain))`` points it elsewhere through configuration
only. URLs that already start with ``base_url`` (the sandbox's own ``after_url`` links) pass
through unchanged, as does anything else.

zenpy only deserializes a response whose request URL contains its own Zendesk base URL, so the
response's ``url`` and ``request.url`` are mapped back from ``base_url`` to the Zendesk prefix.
"""

from __future__ import annotations

from typing import Any

import requests


class BaseUrlSession(requests.Session):
    """``base_url=None`` sends everything where zenpy says (real Zendesk): no rewriting. The
    sync's ``PacedSession`` builds on this class, so the rewrite exists once."""

    def __init__(self, base_url: str | None, subdomain: str, domain: str = "zendesk.com") -> None:
        super().__init__()
        if base_url is not None and not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/") if base_url is not None else None
        self.zendesk_prefix = f"https://{subdomain}.{domain}"

    def rewrite(self, url: str | bytes) -> str:
        """``url`` with the Zendesk prefix replaced by ``base_url`` (anything else unchanged)."""
        text = url.decode() if isinstance(url, bytes) else url
        if self.base_url is not None and _under(text, self.zendesk_prefix):
            return self.base_url + text[len(self.zendesk_prefix) :]
        return text

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        response = super().request(method, self.rewrite(url), *args, **kwargs)
        if self.base_url is not None:
            response.url = self._back(response.url)
            if response.request is not None and response.request.url is not None:
                # A copy: the request as sent (hooks, mocks, logs) keeps the URL it went to.
                zendesk_view = response.request.copy()
                zendesk_view.url = self._back(response.request.url)
                response.request = zendesk_view
        return response

    def _back(self, url: str) -> str:
        if self.base_url is not None and _under(url, self.base_url):
            return self.zendesk_prefix + url[len(self.base_url) :]
        return url


def _under(url: str, prefix: str) -> bool:
    return url == prefix or url.startswith(prefix + "/")
