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
    def __init__(self, base_url: str, subdomain: str, domain: str = "zendesk.com") -> None:
        super().__init__()
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.zendesk_prefix = f"https://{subdomain}.{domain}"

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        text = url.decode() if isinstance(url, bytes) else url
        if text == self.zendesk_prefix or text.startswith(self.zendesk_prefix + "/"):
            text = self.base_url + text[len(self.zendesk_prefix) :]
        response = super().request(method, text, *args, **kwargs)
        response.url = self._back(response.url)
        if response.request is not None and response.request.url is not None:
            response.request.url = self._back(response.request.url)
        return response

    def _back(self, url: str) -> str:
        if url == self.base_url or url.startswith(self.base_url + "/"):
            return self.zendesk_prefix + url[len(self.base_url) :]
        return url
